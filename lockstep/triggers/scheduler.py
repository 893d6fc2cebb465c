"""The scheduler loop: each tick fires due schedules exactly once, answers gates past their
deadline, and delivers due notifications.

`lockstep scheduler` runs it alone; `lockstep worker --with-scheduler` and `lockstep serve`
run it in a background thread. Any number may run at once, on one machine or many:

- **Schedules.** Each schedule has a row in `lockstep_schedules` holding its cursor (fire
  times up to it are handled) and whether it is paused. A tick locks that row (`FOR UPDATE`
  on Postgres, `BEGIN IMMEDIATE` on SQLite), takes the cron's fire times after the cursor up
  to now (croniter, in the schedule's IANA timezone), fires them through `fires.fire` —
  claiming `(schedule, fire time)` with a unique row — and moves the cursor, all in one
  transaction. A second scheduler sees the moved cursor, or loses the claim: one job per fire
  time. Fire times more than `grace` late were missed (everything was down): `catch_up: all`
  runs each, `latest` (the default) only the most recent, `none` none of them.
- **Gate deadlines.** `approvals.sweep_deadlines`: no manual `lockstep sweep` needed.
- **Notifications.** `notify.deliver_due` sends what is due in the outbox (and retries).

The clock is injectable (`clock=`, an aware datetime) so tests drive fire times and deadlines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from lockstep.client import Lockstep
from lockstep.db import Database
from lockstep.errors import ConfigError
from lockstep.nodes.context import utcnow
from lockstep.queue.config import QueueConfig, load_config
from lockstep.queue.store import JobQueue
from lockstep.queue.trigger_config import ScheduleTrigger
from lockstep.triggers.approvals import sweep_deadlines
from lockstep.triggers.fires import Fire, fire, fires
from lockstep.triggers.notify import deliver_due
from lockstep.triggers.signing import TOLERANCE

__all__ = [
    "MAX_CATCH_UP",
    "Scheduler",
    "TickReport",
    "due_times",
    "list_schedules",
    "pause",
    "resume",
    "run_schedule",
    "trigger_now",
]

log = logging.getLogger("lockstep.scheduler")

MAX_CATCH_UP = 100
"""Most fire times one tick runs for one schedule (`catch_up: all`); the rest follow."""


@dataclass
class TickReport:
    """What one tick did."""

    fired: list[Fire] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    notifications: int = 0


def due_times(
    trigger: ScheduleTrigger, after: datetime, now: datetime, *, limit: int
) -> Iterator[datetime]:
    """Fire times in (after, now], oldest first, in the schedule's timezone; at most `limit`."""
    it = croniter(trigger.cron, after.astimezone(trigger.zone))
    for _ in range(limit):
        when: datetime = it.get_next(datetime)
        if when > now:
            return
        yield when


def _latest(trigger: ScheduleTrigger, now: datetime) -> datetime:
    """The most recent fire time at or before `now`."""
    start = now.astimezone(trigger.zone) + timedelta(microseconds=1)
    latest: datetime = croniter(trigger.cron, start).get_prev(datetime)
    return latest


def _state(queue: JobQueue, name: str, now: float, *, lock: bool) -> dict[str, Any]:
    queue.db.execute(
        "INSERT INTO lockstep_schedules (trigger_name, cursor, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (trigger_name) DO NOTHING",
        (name, now, now),
    )
    tail = " FOR UPDATE" if lock and queue.db.dialect == "postgres" else ""
    return queue.db.query(
        f"SELECT * FROM lockstep_schedules WHERE trigger_name = ?{tail}", (name,)
    )[0]


def _event(name: str, trigger: ScheduleTrigger, when: datetime, now: datetime) -> dict[str, Any]:
    """What a schedule's templates see as `event`."""
    return {
        "trigger": name,
        "fire_time": when.astimezone(trigger.zone).isoformat(),
        "fire_time_utc": when.astimezone(UTC).isoformat(),
        "timezone": trigger.timezone,
        "late_by": max(0.0, (now - when).total_seconds()),
    }


def run_schedule(
    queue: JobQueue, name: str, trigger: ScheduleTrigger, now: datetime, *, by: str
) -> list[Fire]:
    """Fire `name`'s due times once (see the module docstring); returns what this call fired.
    The first tick that ever sees a schedule starts its cursor at `now`."""
    stamp = now.timestamp()
    with queue.db.transaction():
        row = _state(queue, name, stamp, lock=True)
        if row["paused"] or float(row["cursor"]) >= stamp:
            return []
        after = datetime.fromtimestamp(float(row["cursor"]), UTC)
        due = list(due_times(trigger, after, now, limit=MAX_CATCH_UP + 1))
        cursor = stamp
        if trigger.catch_up == "all":
            if len(due) > MAX_CATCH_UP:  # a long outage: the next tick carries on from here
                due = due[:MAX_CATCH_UP]
                cursor = due[-1].timestamp()
            chosen = due
        elif not due:
            chosen = []
        else:
            latest = _latest(trigger, now) if len(due) > MAX_CATCH_UP else due[-1]
            on_time = (now - latest).total_seconds() <= trigger.grace
            chosen = [latest] if trigger.catch_up == "latest" or on_time else []
        missed = max(0, len(due) - len(chosen))
        done = [
            fire(
                queue,
                name,
                "schedule",
                when.astimezone(UTC).isoformat(),
                trigger.action,
                {"event": _event(name, trigger, when, now)},
                detail={"by": by, "fire_time": when.isoformat(), "catch_up": trigger.catch_up},
            )
            for when in chosen
        ]
        queue.db.execute(
            "UPDATE lockstep_schedules SET cursor = ?, missed = missed + ?, updated_at = ? "
            "WHERE trigger_name = ?",
            (cursor, missed, stamp, name),
        )
    if missed:
        log.warning(
            "schedule %s: %d missed fire time(s) skipped (catch_up: %s)",
            name,
            missed,
            trigger.catch_up,
        )
    return [f for f in done if f.won]


# -- operator actions ------------------------------------------------------------------------


def _schedule(config: QueueConfig, name: str) -> ScheduleTrigger:
    found = config.schedules()
    if name not in found:
        known = ", ".join(sorted(found)) or "none declared"
        raise ConfigError(f"unknown schedule {name!r}: declared schedules are {known}")
    return found[name]


def set_paused(queue: JobQueue, name: str, paused: bool, *, by: str, now: datetime) -> None:
    """Pause `name` (it stops firing), or resume it: it fires again from `now` on, and fire
    times that passed while it was paused are skipped whatever its catch_up policy (that
    policy is for outages, not for a pause)."""
    _schedule(queue.config, name)
    at = now.timestamp()
    with queue.db.transaction():
        cursor = _state(queue, name, at, lock=True)["cursor"]
        queue.db.execute(
            "UPDATE lockstep_schedules SET paused = ?, cursor = ?, changed_by = ?, "
            "updated_at = ? WHERE trigger_name = ?",
            (int(paused), cursor if paused else at, by, at, name),
        )


def pause(queue: JobQueue, name: str, *, by: str, now: datetime) -> None:
    """Stop firing `name` until `resume`."""
    set_paused(queue, name, True, by=by, now=now)


def resume(queue: JobQueue, name: str, *, by: str, now: datetime) -> None:
    """Fire `name` again from `now` on (see `set_paused`)."""
    set_paused(queue, name, False, by=by, now=now)


def trigger_now(queue: JobQueue, name: str, *, by: str, now: datetime) -> Fire:
    """Fire `name` once now, outside its cron (paused or not); recorded as `manual:<id>`."""
    trigger = _schedule(queue.config, name)
    return fire(
        queue,
        name,
        "schedule",
        f"manual:{uuid.uuid4().hex[:12]}",
        trigger.action,
        {"event": _event(name, trigger, now, now)},
        detail={"by": by, "manual": True, "fire_time": now.isoformat()},
    )


def list_schedules(queue: JobQueue, now: datetime) -> list[dict[str, Any]]:
    """Every declared schedule: cron, timezone, policy, paused, last firing, next fire time."""
    rows = {r["trigger_name"]: r for r in queue.db.query("SELECT * FROM lockstep_schedules")}
    listed = []
    for name, trigger in sorted(queue.config.schedules().items()):
        row = rows.get(name) or {}
        last = fires(queue, name, limit=1)
        after = now
        if row and not row["paused"]:
            after = max(now, datetime.fromtimestamp(float(row["cursor"]), UTC))
        upcoming = croniter(trigger.cron, after.astimezone(trigger.zone)).get_next(datetime)
        listed.append(
            {
                "name": name,
                "cron": trigger.cron,
                "timezone": trigger.timezone,
                "catch_up": trigger.catch_up,
                "workflow": trigger.action.workflow,
                "paused": bool(row.get("paused")),
                "changed_by": row.get("changed_by"),
                "missed": int(row.get("missed") or 0),
                "next": None if row.get("paused") else upcoming.isoformat(),
                "last": last[0].to_dict() if last else None,
            }
        )
    return listed


# -- the loop --------------------------------------------------------------------------------


class Scheduler:
    """Ticks every `interval` seconds until stopped (SIGTERM/SIGINT, or `stop()`)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        config: QueueConfig | str | Path | None = None,
        clock: Callable[[], datetime] = utcnow,
        interval: float = 1.0,
        scheduler_id: str | None = None,
    ) -> None:
        self.config = config if isinstance(config, QueueConfig) else load_config(config)
        self.url = database_url
        self.clock = clock
        self.interval = interval
        self.id = scheduler_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._client: Lockstep | None = None
        self._stop = threading.Event()
        self.ticks = 0

    @property
    def client(self) -> Lockstep:
        if self._client is None:
            self._client = Lockstep(self.url, config=self.config, clock=self.clock)
        return self._client

    def tick(self, *, notify: bool = True) -> TickReport:
        """One pass: schedules, gate deadlines, spent signatures and (with `notify`) due
        notifications. `run` sends notifications on a thread of its own instead, so a slow
        receiver never delays a fire time."""
        client = self.client
        queue = client.queue
        now = self.clock()
        report = TickReport()
        by = f"scheduler:{self.id}"
        for name, trigger in self.config.schedules().items():
            report.fired.extend(run_schedule(queue, name, trigger, now, by=by))
        report.gates = sweep_deadlines(client, queue, now=now, by="scheduler")
        if notify:
            report.notifications = deliver_due(queue)
        queue.db.execute(
            "DELETE FROM lockstep_webhook_signatures WHERE at < ?",
            (queue.clock() - 2 * TOLERANCE,),
        )
        self.ticks += 1
        return report

    def stop(self) -> None:
        self._stop.set()

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        install_signals: bool = True,
        ticks: int | None = None,
    ) -> None:
        """Tick until `stop` (or this scheduler's own stop) is set, or `ticks` ticks ran. A
        failing tick (the database away) is logged and the connection reopened next time."""
        done = stop or self._stop
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: done.set())
        sender = threading.Thread(
            target=self._notifier, args=(done,), name="lockstep-notify", daemon=True
        )
        sender.start()
        ran = 0
        while not done.is_set() and not self._stop.is_set():
            try:
                report = self.tick(notify=False)
                for f in report.fired:
                    log.info("fired %s (%s): %s %s", f.trigger, f.key, f.status, f.job_id or "")
            except Exception:  # keep ticking; the next tick reconnects
                log.exception("scheduler tick failed")
                self.close()
            ran += 1
            if ticks is not None and ran >= ticks:
                break
            done.wait(self.interval)
        self._stop.set()
        sender.join(30)
        self.close()

    def _notifier(self, done: threading.Event) -> None:
        """Deliver due notifications until stopped, on a database connection of its own."""
        queue: JobQueue | None = None
        while not done.is_set() and not self._stop.is_set():
            try:
                if queue is None:
                    queue = JobQueue(Database(self.url), self.config)
                deliver_due(queue)
            except Exception:  # the database is away: reconnect next time
                log.exception("notification delivery failed")
                if queue is not None:
                    with contextlib.suppress(Exception):
                        queue.db.close()
                queue = None
            self._stop.wait(self.interval)
        if queue is not None:
            queue.db.close()

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def start_in_thread(scheduler: Scheduler) -> threading.Thread:
    """Run `scheduler` on a daemon thread (for `worker --with-scheduler` and `serve`);
    `scheduler.stop()` then join the thread to end it."""
    thread = threading.Thread(
        target=scheduler.run,
        kwargs={"install_signals": False},
        name="lockstep-scheduler",
        daemon=True,
    )
    thread.start()
    return thread
