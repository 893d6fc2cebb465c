"""Entry and exit actions (`on_enter`, `on_exit`): a registry of named callables, run by the
compiler exactly once per entry or exit, across crashes and resumes.

Built in: `log` (an audit row and a log line), `notify` (the workflow's notify targets, through
the notify outbox: `lockstep.triggers` registers the hook, since the machine layer cannot
import it), `save_artifact` (a state value saved as a versioned artifact). Anything else is a
callable registered with `register_action(name, fn)`.

**Exactly once.** Each action of a transition is claimed by a unique row in
`lockstep_actions` keyed by `(thread, task, transition, action)` (the LangGraph task id is the
same when a crashed step is re-run on `resume`), and the claim, the action's own database
writes and its audit row commit in one transaction. A crash before the commit rolls all of
them back, so the re-run does it once; a crash after it finds the claim and skips. An action
with an effect outside the database (a user callable posting somewhere) is run at most twice
only if the process dies between that effect and the commit; make such actions idempotent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockstep.machine.spec import ActionCall, Machine

__all__ = [
    "SESSION_EXPIRED_EVENT",
    "ActionFn",
    "ActionRun",
    "Notifier",
    "action_names",
    "notify_event",
    "notify_events",
    "on_notify",
    "register_action",
    "run_actions",
]

log = logging.getLogger("lockstep.actions")


@dataclass(frozen=True)
class ActionRun:
    """What an action is given: where it runs, the transition and the state values after it."""

    thread_id: str
    workflow: str
    state: str
    """The state entered or exited."""
    phase: str
    """`enter` or `exit`."""
    transition: Mapping[str, str]
    args: Mapping[str, Any]
    values: Mapping[str, Any]
    context: Any
    """The run's context (`RunContext`: db, artifacts, clock, user)."""


ActionFn = Callable[[ActionRun], Mapping[str, Any] | None]
"""An action: returns details for its audit row (or None)."""
Notifier = Callable[[ActionRun, str], Sequence[str]]
"""Queues notification `event` for the run's thread; returns the notification ids."""

_ACTIONS: dict[str, ActionFn] = {}
_NOTIFIERS: list[Notifier] = []


def register_action(name: str, fn: ActionFn) -> None:
    """Make `fn` usable as `on_enter: [name]` / `on_exit: [name]`."""
    _ACTIONS[name] = fn


def action_names() -> list[str]:
    return sorted(_ACTIONS)


def on_notify(hook: Notifier) -> None:
    """Register how the `notify` action reaches the outbox (idempotent; `lockstep.triggers`)."""
    if hook not in _NOTIFIERS:
        _NOTIFIERS.append(hook)


def notify(run: ActionRun, event: str) -> list[str]:
    """Queue `event` through every registered notifier (none outside the queue layer)."""
    return [note for hook in _NOTIFIERS for note in hook(run, event)]


def _log(run: ActionRun) -> Mapping[str, Any]:
    message = str(run.args.get("message") or f"{run.phase} {run.state}")
    log.info("%s: %s", run.thread_id, message)
    return {"message": message}


def notify_event(phase: str, state: str, args: Mapping[str, Any]) -> str:
    """The event a `notify` action announces: its `event` argument, else `enter_<state>` /
    `exit_<state>`."""
    return str(args.get("event") or f"{phase}_{state}")


SESSION_EXPIRED_EVENT = "session_expired"
"""What an expired session (`timeouts.session`) announces through the same hook."""


def notify_events(machine: Machine) -> list[str]:
    """Every event `machine` can announce through the notify hook: its `notify` entry and
    exit actions, and `session_expired` when it declares a session timeout. A `notify:`
    target's `events` may name these besides the job ends."""
    events = {
        notify_event(phase, state.name, call.args)
        for state in machine.states.values()
        for phase, calls in (("enter", state.on_enter), ("exit", state.on_exit))
        for call in calls
        if call.name == "notify"
    }
    if machine.session_timeout or any(s.session_timeout for s in machine.states.values()):
        events.add(SESSION_EXPIRED_EVENT)
    return sorted(events)


def _notify(run: ActionRun) -> Mapping[str, Any]:
    event = notify_event(run.phase, run.state, run.args)
    return {"event": event, "notifications": notify(run, event)}


def _save_artifact(run: ActionRun) -> Mapping[str, Any]:
    key = str(run.args.get("key") or "")
    if not key:
        raise ValueError("save_artifact needs a `key`: the state value to save")
    value = run.values.get(key)
    if value is None:
        return {"skipped": f"state has no {key!r}"}
    name = str(run.args.get("name") or key)
    content = value if isinstance(value, str | bytes) else json.dumps(value, default=str)
    ref = run.context.artifacts.put(
        run.thread_id, name, content, step=f"{run.phase}:{run.state}", created_by="action"
    )
    return {"artifact": name, "ref": dict(ref) if isinstance(ref, Mapping) else str(ref)}


register_action("log", _log)
register_action("notify", _notify)
register_action("save_artifact", _save_artifact)


def _claim(db: Any, thread_id: str, key: str, run: ActionRun, name: str) -> bool:
    at = str(run.transition.get("at") or "")
    return bool(
        db.rowcount(
            "INSERT INTO lockstep_actions (thread_id, action_key, state, phase, action, at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, action_key) DO NOTHING",
            (thread_id, key, run.state, run.phase, name, at),
        )
    )


def run_actions(
    calls: Sequence[tuple[str, str, ActionCall]],
    *,
    key: str,
    thread_id: str | None,
    workflow: str,
    transition: Mapping[str, str],
    values: Mapping[str, Any],
    context: Any,
) -> list[str]:
    """Run `(phase, state, action)` calls of one transition, each once per `key` (task id and
    transition number); returns the labels run now. Journaled in the run's database when it
    has one (`context.db`); without a thread or database they simply run."""
    db = getattr(context, "db", None)
    journaled = thread_id is not None and db is not None and hasattr(db, "transaction")
    done = []
    for i, (phase, state, call) in enumerate(calls):
        fn = _ACTIONS.get(call.name)
        if fn is None:
            raise KeyError(
                f"unknown action {call.name!r} (registered: {', '.join(action_names())})"
            )
        run = ActionRun(
            thread_id or "unthreaded",
            workflow,
            state,
            phase,
            transition,
            call.args,
            values,
            context,
        )
        if not journaled or db is None:
            fn(run)
            done.append(call.label())
            continue
        with db.transaction():
            if not _claim(db, str(thread_id), f"{key}:{i}", run, call.name):
                continue
            detail = dict(fn(run) or {})
            db.record(
                str(thread_id),
                "action",
                {"action": call.label(), "phase": phase, "state": state, **transition, **detail},
                f"{phase}:{state}",
            )
        done.append(call.label())
    return done
