"""One trigger firing: claim `(trigger, key)` in the database, render the action's input and
submit its job, all in one transaction.

The key names what fired: a schedule's fire time, a webhook's delivery id (or signature), the
job whose end started a chain. `lockstep_trigger_fires` is unique on `(trigger, key)`, and the
claim is `INSERT ... ON CONFLICT DO NOTHING`, so however many processes see the same event,
one wins and submits; the others read the winner's row. A firing whose input cannot be built
(a missing field, a template the sandbox refuses) or that the queue refuses (a limit, bad
input) is recorded as `failed` with its error, and no job exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import LockstepError, TriggerError
from lockstep.queue.store import JobQueue, iso
from lockstep.queue.templates import render_mapping
from lockstep.queue.trigger_config import Action
from lockstep.triggers import engine as engines

__all__ = ["Fire", "fire", "fires"]


@dataclass
class Fire:
    """One row of `lockstep_trigger_fires`."""

    trigger: str
    key: str
    kind: str
    at: float
    status: str
    """`submitted` (a job exists), `failed` (error says why), `skipped` (max_depth reached)."""
    job_id: str | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    won: bool = False
    """True for the call that claimed this firing (False when it had fired already)."""
    refusal: LockstepError | None = None
    """Why this call's firing failed (a limit, bad input, a template), for the caller."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Fire:
        return cls(
            trigger=row["trigger_name"],
            key=row["fire_key"],
            kind=row["kind"],
            at=float(row["at"]),
            status=row["status"],
            job_id=row["job_id"],
            error=row["error"],
            detail=json.loads(row["detail"] or "{}"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "key": self.key,
            "kind": self.kind,
            "at": iso(self.at),
            "status": self.status,
            "job_id": self.job_id,
            "error": self.error,
            "detail": self.detail,
        }


def _row(queue: JobQueue, name: str, key: str) -> Fire | None:
    rows = queue.db.query(
        "SELECT * FROM lockstep_trigger_fires WHERE trigger_name = ? AND fire_key = ?",
        (name, key),
    )
    return Fire.from_row(rows[0]) if rows else None


def fire(
    queue: JobQueue,
    name: str,
    kind: str,
    key: str,
    action: Action,
    context: Mapping[str, Any],
    *,
    detail: Mapping[str, Any] | None = None,
    parent_id: str | None = None,
    skip: str | None = None,
    retry_failed: bool = False,
) -> Fire:
    """Fire trigger `name` for `key` once: the first caller renders `action.input_mapping`
    against `context` and submits the job; later callers get the recorded outcome. `skip`
    records the firing as skipped with that reason (a chain at its max_depth).
    `retry_failed` lets a failed firing be tried again (a webhook sender retrying a delivery
    that was rate limited)."""
    found = _row(queue, name, key)
    if found is not None and not (retry_failed and found.status == "failed"):
        return found
    error: str | None = skip
    refusal: LockstepError | None = None
    inputs: dict[str, Any] = {}
    if skip is None:
        try:
            inputs = render_mapping(action.input_mapping, context)
        except TriggerError as exc:
            error, refusal = f"trigger {name!r}: {exc}", exc
    info = json.dumps(dict(detail or {}), default=str)
    with queue.db.transaction():
        if found is None:
            won = queue.db.rowcount(
                "INSERT INTO lockstep_trigger_fires (trigger_name, fire_key, kind, at, status, "
                "detail) VALUES (?, ?, ?, ?, 'claimed', ?) "
                "ON CONFLICT (trigger_name, fire_key) DO NOTHING",
                (name, key, kind, queue.clock(), info),
            )
        else:  # claim the failed firing back (a concurrent retry loses this race)
            won = queue.db.rowcount(
                "UPDATE lockstep_trigger_fires SET status = 'claimed', at = ?, detail = ?, "
                "error = NULL WHERE trigger_name = ? AND fire_key = ? AND status = 'failed'",
                (queue.clock(), info, name, key),
            )
        if won:
            job_id = None
            status = "skipped" if skip else "failed"
            if error is None:
                try:
                    job = engines.submit(
                        queue,
                        action.workflow,
                        inputs,
                        queue=action.queue,
                        priority=action.priority,
                        user=action.user or f"trigger:{name}",
                        parent_id=parent_id,
                    )
                except LockstepError as exc:  # a limit or the workflow's input check refused
                    error, refusal = f"trigger {name!r}: {exc}", exc
                else:
                    job_id, status = job.id, "submitted"
            queue.db.execute(
                "UPDATE lockstep_trigger_fires SET status = ?, job_id = ?, error = ? "
                "WHERE trigger_name = ? AND fire_key = ?",
                (status, job_id, error, name, key),
            )
    result = _row(queue, name, key)
    assert result is not None
    result.won = bool(won)
    result.refusal = refusal if won else None
    return result


def fires(queue: JobQueue, trigger: str | None = None, *, limit: int = 200) -> list[Fire]:
    """Recorded firings, newest first (of one trigger, or all)."""
    where, params = ("trigger_name = ?", (trigger,)) if trigger else ("1 = 1", ())
    rows = queue.db.query(
        f"SELECT * FROM lockstep_trigger_fires WHERE {where} ORDER BY seq DESC LIMIT ?",
        (*params, limit),
    )
    return [Fire.from_row(r) for r in rows]
