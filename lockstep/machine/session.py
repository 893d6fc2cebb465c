"""The session timeout (`timeouts.session`): the wall-clock bound of an interactive run,
time waiting for people included (the queue's `workflow_total` counts running time only).

A run's session starts at its first step (`session_started` in state) and restarts when the
person resumes an expired one. Each step and gate checks the bound before doing anything;
past it, the step saves nothing new (its work up to the last checkpoint is kept), the
submitter is notified through the `notify` hook (the notify outbox) once, and the thread
pauses on an `interrupt()` whose payload says `session_expired` with the design's message.
`lockstep resume THREAD` answers it and the step runs from where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from lockstep.machine.actions import SESSION_EXPIRED_EVENT, ActionRun, notify
from lockstep.machine.routing import clock_of, task_of, thread_id_of
from lockstep.machine.spec import Machine

__all__ = ["MESSAGE", "SESSION_EXPIRED", "check_session", "session_deadline"]

SESSION_EXPIRED = SESSION_EXPIRED_EVENT
MESSAGE = "Your request timed out. You can resume from where it stopped."
RESUME = "resume"


def session_start(state: Mapping[str, Any]) -> str | None:
    started = state.get("session_started")
    if started:
        return str(started)
    log = state.get("transitions") or []
    return str(log[0]["at"]) if log else None


def session_deadline(machine: Machine, state_name: str, state: Mapping[str, Any]) -> str | None:
    """When the run's session ends while it is in `state_name` (ISO-8601), or None."""
    limit = machine.session_limit(state_name)
    start = session_start(state)
    if not limit or not start:
        return None
    return (datetime.fromisoformat(start) + timedelta(seconds=limit)).isoformat()


def expired_payload(machine: Machine, name: str, deadline: str) -> dict[str, Any]:
    """Shaped like a gate's payload (clients list it with gates) with one decision, `resume`."""
    return {
        "gate": SESSION_EXPIRED,
        "session_expired": True,
        "state": name,
        "workflow": machine.name,
        "description": MESSAGE,
        "message": MESSAGE,
        "decisions": [RESUME],
        "comment_required": [],
        "requires": {},
        "deadline": None,
        "expired_at": deadline,
        "review": {},
    }


def check_session(
    machine: Machine,
    name: str,
    state: Mapping[str, Any],
    runtime: Runtime[Any],
    *,
    at: datetime | None = None,
    expired: bool = False,
) -> dict[str, Any]:
    """The update a step starts with: `session_started` on a run's first step, or, past the
    deadline, pause (interrupt) until resumed and restart the session then. `at` is the time
    checked (the clock, or a gate's recorded entry time so a re-run decides alike);
    `expired` pauses regardless (a gate told its session ran out while it waited)."""
    limit = machine.session_limit(name)
    if not limit and not any(s.session_timeout for s in machine.states.values()):
        return {}
    now = at or clock_of(runtime)
    deadline = session_deadline(machine, name, state)
    if session_start(state) is None and not expired:
        return {"session_started": now.isoformat()}
    if not expired and (deadline is None or now <= datetime.fromisoformat(deadline)):
        return {}
    deadline = deadline or now.isoformat()
    thread_id = thread_id_of(runtime)
    journal = getattr(runtime.context, "db", None)
    key = f"{task_of(runtime)}:session"
    first = thread_id is None or journal is None or not hasattr(journal, "rowcount")
    if not first and journal is not None:
        first = bool(
            journal.rowcount(
                "INSERT INTO lockstep_actions (thread_id, action_key, state, phase, action, at) "
                "VALUES (?, ?, ?, 'session', 'session_expired', ?) "
                "ON CONFLICT (thread_id, action_key) DO NOTHING",
                (thread_id, key, name, now.isoformat()),
            )
        )
    if first and thread_id is not None:
        entry = {"from": name, "event": SESSION_EXPIRED, "to": name, "at": now.isoformat()}
        run = ActionRun(thread_id, machine.name, name, "session", entry, {}, state, runtime.context)
        ids = notify(run, SESSION_EXPIRED)
        if journal is not None and hasattr(journal, "record"):
            detail = {"state": name, "deadline": deadline, "notifications": ids}
            journal.record(thread_id, SESSION_EXPIRED, detail, "session")
    answer = interrupt(expired_payload(machine, name, deadline))
    resumed = answer.get("at") if isinstance(answer, Mapping) else None
    return {"session_started": str(resumed or clock_of(runtime).isoformat())}
