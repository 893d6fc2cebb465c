"""`Worker`: drain queues in a process, `concurrency` jobs at a time, each on its own thread
with its own database connections.

A job runs its thread through the same `Lockstep` client the CLI uses. Every step boundary
(after a step's checkpoint is written) is where the worker can stop a job: a cancel, a step or
workflow time limit, or a drain on SIGTERM. A step already running is not preempted (a sync
node cannot be), except by a cancel: its LLM call in flight runs as an asyncio task
(`RunContext.cancel`, `agents.models.call`) and is cancelled, so the step ends unfinished and
the thread stays at its last checkpoint.

A heartbeat thread renews the leases of the running jobs every third of the visibility
timeout and learns of cancels. If the worker dies, its leases expire and another worker takes
the jobs over from their last checkpoints. Each slot's checkpoint writes are fenced by the
lease token of the job it runs (`lockstep.checkpointers.fence`): a worker that lost a lease
stops at the next step boundary without writing.

A database outage is not a death: a slot whose connection drops keeps its job, reconnects
with backoff while the heartbeat thread keeps trying to renew the lease, and, once the
database is back and the lease is still its own, carries on from the last checkpoint in the
same attempt (the step in flight runs again; no completed step does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lockstep.checkpointers import open_checkpointer
from lockstep.checkpointers.fence import Fence, LeaseLost
from lockstep.client import Lockstep, ThreadStatus
from lockstep.db import connection_lost
from lockstep.errors import CallCancelled, ConfigError, LockstepError, StorageError
from lockstep.graphs import WORKFLOWS, workflow_machine
from lockstep.queue.clock import SKEW_ENV, skew_process_clock
from lockstep.queue.config import QueueConfig, load_config
from lockstep.queue.ends import END_HOOKS
from lockstep.queue.limits import RateLimiter, limit_key
from lockstep.queue.store import Job, JobQueue

__all__ = ["JobStop", "Worker"]

log = logging.getLogger("lockstep.worker")


class JobStop(LockstepError):
    """Raised at a step boundary to stop a job: `status` is what the job becomes."""

    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Running:
    job: Job
    started: float = field(default_factory=time.monotonic)
    boundary: float = field(default_factory=time.monotonic)
    stop: tuple[str, str] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set on a cancel: drops the job's LLM call in flight (`RunContext.cancel`)."""


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, StorageError) or connection_lost(exc)


def _lease_lost(exc: BaseException | None) -> bool:
    """The fence refused a checkpoint write (possibly wrapped by LangGraph)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, LeaseLost):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class Companion(Protocol):
    """Something that runs beside a worker's slots (the trigger scheduler)."""

    def run(self, *, install_signals: bool = True) -> None: ...

    def stop(self) -> None: ...


class Worker:
    """Claim and run jobs until `stop()` (SIGTERM/SIGINT), then drain: each running job stops
    at its next step boundary and goes back to the queue for another worker."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        config: QueueConfig | str | Path | None = None,
        queues: Sequence[str] | None = None,
        concurrency: int = 1,
        worker_id: str | None = None,
        model: Any = None,
        scheduler: Companion | None = None,
    ) -> None:
        self.config = config if isinstance(config, QueueConfig) else load_config(config)
        self.url = database_url
        self.concurrency = max(1, concurrency)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.model = model
        self.queues = list(queues or self.config.queue_system.queues)
        for q in self.queues:
            self.config.queue(q)
        self._draining = threading.Event()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self.processed = 0
        self.scheduler = scheduler
        """Run beside the slots until the worker stops: the trigger scheduler (schedules, gate
        deadlines, notifications), passed in by the layer above that owns it."""
        if not END_HOOKS and any(self.config.reacts_to(w) for w in WORKFLOWS):
            raise ConfigError(
                "the configuration declares completion triggers or notify: targets, which need "
                "lockstep.triggers loaded in this process: import lockstep (or lockstep.triggers)"
            )

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; running jobs stop at their next step boundary and are released."""
        self._draining.set()

    def run(self, *, install_signals: bool = True, idle_exit: float | None = None) -> None:
        """Run until stopped (or, with `idle_exit`, until no job was found for that long)."""
        skew = skew_process_clock()  # tests only: a worker whose clock is off by seconds
        if skew:
            log.warning("worker %s: clock skewed by %+g s (%s)", self.id, skew, SKEW_ENV)
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        self._idle_since = time.monotonic()
        self._idle_exit = idle_exit
        beat = threading.Thread(target=self._heartbeat, name="lockstep-heartbeat", daemon=True)
        beat.start()
        slots = [
            threading.Thread(target=self._slot, name=f"lockstep-slot-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for t in slots:
            t.start()
        scheduler = self.scheduler
        if scheduler is not None:
            ticking = threading.Thread(
                target=scheduler.run,
                kwargs={"install_signals": False},
                name="lockstep-scheduler",
                daemon=True,
            )
            ticking.start()
        for t in slots:
            while t.is_alive():
                t.join(0.2)
        self._draining.set()
        if scheduler is not None:
            scheduler.stop()
            ticking.join(30)
        beat.join(5)

    # -- heartbeat -------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        queue: JobQueue | None = None
        # a third of the lease, and at least once a second so cancels are seen promptly
        interval = min(self.config.queue_system.visibility_timeout / 3, 1.0)
        while True:
            with self._lock:
                leases = {i: r.job.lease_token for i, r in self._running.items()}
            ids = list(leases)
            if not ids and self._draining.is_set():
                return
            try:
                if queue is None:
                    queue = JobQueue(Lockstep(self.url, model=self.model).db, self.config)
                stop = queue.heartbeat(self.id, leases)
            except Exception:  # the database is away: reconnect next beat, renew when back
                if queue is not None:
                    with contextlib.suppress(Exception):
                        queue.db.close()
                queue = None
                stop = {}
            with self._lock:
                for job_id, why in stop.items():
                    run = self._running.get(job_id)
                    if run is not None and run.stop is None:
                        run.stop = (
                            ("cancelled", "cancelled on request")
                            if why == "cancel"
                            else ("lost", "lease taken over by another worker")
                        )
                        run.cancel.set()
            self._draining.wait(interval) if not ids else time.sleep(interval)

    # -- slots -----------------------------------------------------------------------------

    def _client(self, fence: Fence) -> tuple[Lockstep, JobQueue]:
        """A slot's connections: its client, whose saver writes under `fence`, and queue."""
        client = Lockstep(self.url, model=self.model)
        try:
            client._saver = open_checkpointer(client.db.url, fence=fence)
        except BaseException:
            client.close()
            raise
        client.settings["limiter"] = RateLimiter(client.db, self.config.limits("call"))
        client.settings["queue_config"] = self.config  # the notify action's targets
        return client, JobQueue(client.db, self.config, client=client)

    def _slot(self) -> None:
        client: Lockstep | None = None
        queue: JobQueue | None = None
        fence = Fence()
        pause = self.config.queue_system.poll_interval
        failures = 0
        while not self._draining.is_set():
            try:
                if client is None or queue is None:
                    client, queue = self._client(fence)
                    if failures:
                        self._release_orphans(queue)
                job = queue.claim(self.id, self.queues)
                failures = 0
            except Exception:  # the database is away: back off, reconnect
                failures += 1
                with contextlib.suppress(Exception):
                    if client is not None:
                        client.close()
                client = queue = None
                self._draining.wait(min(5.0, 0.2 * 2**failures))
                continue
            if job is None:
                if (
                    self._idle_exit is not None
                    and time.monotonic() - self._idle_since > self._idle_exit
                ):
                    return
                self._draining.wait(pause)
                continue
            client, queue = self._execute(client, queue, job, fence)
            self._idle_since = time.monotonic()
        if client is not None:
            client.close()

    def _release_orphans(self, queue: JobQueue) -> None:
        """Hand back jobs leased to this worker that none of its slots runs: a claim that
        committed while its connection dropped, so its reply never came. Attempt not counted."""
        rows = queue.db.query(
            "SELECT * FROM lockstep_jobs WHERE status = 'running' AND lease_owner = ?", (self.id,)
        )
        with self._lock:
            orphans = [Job.from_row(r) for r in rows if r["id"] not in self._running]
        for job in orphans:
            log.warning("job %s: its claim's reply was lost with the connection; released", job.id)
            queue.stop(job, self.id, "queued", ran=0.0, reason="claim reply lost in an outage")

    def _boundary(self, queue: JobQueue, run: _Running) -> Any:
        timeouts = self.config.timeouts
        machine = workflow_machine(run.job.workflow)
        finals = {s.name for s in machine.states.values() if s.type == "final"}

        def on_update(node: str, update: Mapping[str, Any]) -> None:
            now = time.monotonic()
            step = node.split(".")[0]
            queue.event(run.job.id, "checkpointed", {"step": node})
            if update.get("status") in finals:
                return  # the work is done: a cancel or an overrun now changes nothing
            if run.stop is not None:
                raise JobStop(*run.stop)
            if self._draining.is_set():
                raise JobStop("queued", "worker draining")
            took, run.boundary = now - run.boundary, now
            limit = timeouts.step(step)
            if limit is not None and took > limit:
                raise JobStop(
                    "timed_out", f"step {step!r} ran {took:.1f}s, over its {limit:g}s limit"
                )
            total = timeouts.workflow_total
            if total is not None and run.job.run_seconds + (now - run.started) > total:
                raise JobStop(
                    "timed_out",
                    f"the workflow ran {run.job.run_seconds + now - run.started:.1f}s, over "
                    f"its {total:g}s limit",
                )

        return on_update

    def _execute(
        self, client: Lockstep, queue: JobQueue, job: Job, fence: Fence
    ) -> tuple[Lockstep | None, JobQueue | None]:
        """Run one claimed job to its next resting point, through database outages; returns
        the slot's connections (None, None: gone, reconnect before the next claim)."""
        run = _Running(job)
        with self._lock:
            self._running[job.id] = run
        fence.job_id, fence.token = job.id, job.lease_token
        try:
            while True:
                try:
                    self._attempt(client, queue, job, run)
                    return client, queue
                except Exception as exc:
                    if not _is_connection_error(exc) or _lease_lost(exc):
                        raise
                    log.warning("job %s: database connection lost (%s); reconnecting", job.id, exc)
                    with contextlib.suppress(Exception):
                        client.close()
                    back = self._reconnect(job, run, fence)
                    if back is None:
                        return None, None
                    client, queue = back
                    run.boundary = time.monotonic()  # the outage is not the step's time
        except Exception as exc:
            if _lease_lost(exc):
                log.warning("job %s: lease lost; stopped without writing", job.id)
            else:
                log.exception("job %s: could not record its end", job.id)
            with contextlib.suppress(Exception):
                client.close()
            return None, None
        finally:
            fence.job_id = fence.token = None
            with self._lock:
                self._running.pop(job.id, None)
            self.processed += 1

    def _reconnect(self, job: Job, run: _Running, fence: Fence) -> tuple[Lockstep, JobQueue] | None:
        """Reconnect with backoff until the database answers; the connections when this
        worker still holds `job`'s lease (run it on), None when it lost it or is draining."""
        failures = 0
        while not self._draining.is_set() and run.stop is None:
            failures += 1
            self._draining.wait(min(2.0, 0.1 * 2**failures))
            try:
                client, queue = self._client(fence)
            except Exception as exc:
                log.debug("job %s: database still unreachable: %s", job.id, exc)
                continue
            try:
                row = queue.get(job.id)
            except Exception as exc:
                log.debug("job %s: database still unreachable: %s", job.id, exc)
                client.close()
                continue
            if row.status == "running" and row.lease_token == job.lease_token:
                log.warning("job %s: database back; carrying on in the same attempt", job.id)
                return client, queue
            log.warning("job %s: its lease lapsed while the database was unreachable", job.id)
            client.close()
            return None
        return None

    def _attempt(self, client: Lockstep, queue: JobQueue, job: Job, run: _Running) -> None:
        """Drive the job's thread from its last checkpoint and record how it ended."""
        client.settings.update(
            user=job.user_name, workflow=job.workflow, cancel=run.cancel, job_id=job.id
        )
        tokens_before = 0
        try:
            if client.db.thread(job.thread_id) is not None:
                tokens_before = client.status(job.thread_id).total_tokens
            if job.resume and client.status(job.thread_id).waiting:
                resume = dict(job.resume)
                status = client.resume(
                    job.thread_id,
                    resume.pop("decision", None),
                    comment=resume.pop("comment", None),
                    by=resume.pop("by", None),
                    gate_claimed=True,
                    on_update=self._boundary(queue, run),
                    **resume,
                )
            else:
                status = client.continue_run(
                    job.workflow,
                    job.thread_id,
                    job.input,
                    created_by=job.user_name,
                    on_update=self._boundary(queue, run),
                )
            self._record_tokens(queue, job, status.total_tokens - tokens_before)
            self._settle(queue, job, run, status)
        except JobStop as stop:
            self._stopped(client, queue, job, run, stop)
        except CallCancelled as exc:  # a cancel (or a lost lease) dropped an LLM call
            ending, reason = run.stop or ("cancelled", "cancelled on request")
            self._stopped(client, queue, job, run, JobStop(ending, f"{reason}; {exc}"))
        except Exception as exc:  # every failure is recorded on the job
            if _is_connection_error(exc) or _lease_lost(exc):
                raise
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
            retry = not isinstance(exc, LockstepError)
            queue.fail(job, self.id, ran=time.monotonic() - run.started, error=error, retry=retry)

    def _record_tokens(self, queue: JobQueue, job: Job, used: int) -> None:
        for name, decl in self.config.limits("tokens").items():
            if decl.workflow in (None, job.workflow):
                key = limit_key(decl, user=job.user_name, workflow=job.workflow)
                queue.limiter.record(name, key, used)

    def _settle(self, queue: JobQueue, job: Job, run: _Running, status: ThreadStatus) -> None:
        ran = time.monotonic() - run.started
        if status.waiting:
            queue.wait_human(job, self.id, ran=ran, gate=str((status.gate or {}).get("gate")))
        elif status.final:
            if status.status == workflow_machine(job.workflow).error_state:
                queue.fail(job, self.id, ran=ran, error=status.error or "failed", retry=False)
            else:
                queue.succeed(job, self.id, ran=ran, outcome=status.status)
        else:
            queue.fail(job, self.id, ran=ran, error=f"thread stopped at {status.status}")

    def _stopped(
        self, client: Lockstep, queue: JobQueue, job: Job, run: _Running, stop: JobStop
    ) -> None:
        ran = time.monotonic() - run.started
        if stop.status == "lost":
            return
        if stop.status in ("cancelled", "timed_out"):
            saved = client.save_partial(job.thread_id, by=f"worker:{self.id}", step=stop.status)
            reason = stop.reason + (f"; saved incomplete: {', '.join(saved)}" if saved else "")
            queue.stop(job, self.id, stop.status, ran=ran, reason=reason)
        else:
            queue.stop(job, self.id, "queued", ran=ran, reason=stop.reason)
