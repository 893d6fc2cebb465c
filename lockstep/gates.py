"""Human gates across threads: who waits where (`gates`), overdue gates answered with their
`timeout` decision (`sweep`), and the first-answer-wins claim every gate answer takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lockstep.db import Database
from lockstep.errors import (
    InvalidDecision,
    LockstepError,
    ThreadStateError,
)
from lockstep.machine.session import SESSION_EXPIRED
from lockstep.threads import (
    ThreadsBase,
    ThreadStatus,
)

__all__ = ["Gates", "claim_gate"]


def claim_gate(db: Database, current: ThreadStatus, decision: str, by: str | None) -> None:
    """Record that `by` answers the pending gate; the database decides who came first, so a
    second answer to the same gate (a sweep racing a person) is refused, changing nothing."""
    gate = current.gate
    assert gate is not None
    at = datetime.now(UTC).isoformat()
    # ON CONFLICT rather than catching the violation: it also works inside a transaction
    # (a Postgres transaction is unusable after an error), so a caller can claim the gate and
    # queue its continuation atomically.
    won = db.rowcount(
        "INSERT INTO lockstep_gate_answers (thread_id, interrupt_id, decision, by_name, at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, interrupt_id) DO NOTHING",
        (current.thread_id, gate["interrupt_id"], decision, by or "unknown", at),
    )
    if not won:
        row = db.query(
            "SELECT decision, by_name, at FROM lockstep_gate_answers"
            " WHERE thread_id = ? AND interrupt_id = ?",
            (current.thread_id, gate["interrupt_id"]),
        )[0]
        raise InvalidDecision(
            f"gate {gate['gate']!r} of thread {current.thread_id} was already answered "
            f"{row['decision']!r} by {row['by_name']} at {row['at'][:19]}"
        )


class Gates(ThreadsBase):
    """`Lockstep.gates` and `Lockstep.sweep`."""

    def gates(self, *, overdue: bool = False) -> list[dict[str, Any]]:
        """Every thread waiting at a gate, with its payload and deadline; `overdue` keeps only
        those past their deadline (by this client's clock)."""
        now = self._clock().isoformat()
        waiting = []
        for row in self.db.threads():
            status = self.status(row["thread_id"])
            if status.gate is None:
                continue
            deadline = status.gate.get("deadline")
            late = bool(deadline and deadline < now)
            if overdue and not late:
                continue
            waiting.append(
                {
                    "thread_id": status.thread_id,
                    "workflow": status.workflow,
                    "owner": row.get("created_by"),
                    "overdue": late,
                    **status.gate,
                }
            )
        return waiting

    def expire_sessions(self, *, by: str = "sweeper") -> list[dict[str, str]]:
        """Pause every thread whose session (`timeouts.session`) ran out while it waited at a
        gate: the gate is told `session_expired` (claimed like an answer, so a person answering
        in the same instant wins or loses cleanly), which notifies through the notify hook once
        and leaves the thread at `session_expired` until `resume`."""
        from langgraph.types import Command

        now = self._clock().isoformat()
        outcomes = []
        for row in self.db.threads():
            try:
                current = self.status(row["thread_id"])
            except LockstepError:
                continue
            gate = current.gate
            end = (gate or {}).get("session_deadline")
            if gate is None or gate.get("session_expired") or not end or end >= now:
                continue
            outcome = {"thread_id": current.thread_id, "gate": str(gate["gate"])}
            try:
                claim_gate(self.db, current, SESSION_EXPIRED, by)
            except InvalidDecision as exc:
                outcomes.append({**outcome, "outcome": "skipped", "reason": str(exc)})
                continue
            answer = {"decision": SESSION_EXPIRED, "by": by, "at": now}
            command: Command[Any] = Command(resume={gate["interrupt_id"]: answer})
            self._drive(current.workflow, command, current.thread_id, None)
            status = self.status(current.thread_id)
            outcomes.append({**outcome, "outcome": SESSION_EXPIRED, "status": status.status})
        return outcomes

    def sweep(self, *, by: str = "sweeper") -> list[dict[str, str]]:
        """Pause threads whose session ran out at a gate (`expire_sessions`), then answer
        every overdue gate with its `timeout` decision. Idempotent: a gate someone answered
        first (even in the same instant) is skipped, never escalated too."""
        outcomes = self.expire_sessions(by=by)
        for gate in self.gates(overdue=True):
            if "timeout" not in gate["decisions"]:
                continue
            try:
                status = self.resume(gate["thread_id"], "timeout", by=by)
            except (InvalidDecision, ThreadStateError) as exc:
                outcomes.append(
                    {
                        "thread_id": gate["thread_id"],
                        "gate": gate["gate"],
                        "outcome": "skipped",
                        "reason": str(exc),
                    }
                )
                continue
            outcomes.append(
                {
                    "thread_id": gate["thread_id"],
                    "gate": gate["gate"],
                    "outcome": "timed_out",
                    "status": status.status,
                }
            )
        return outcomes
