"""Gate answers that arrive as events: a signed approval webhook, or a deadline passing.

Either way the answer claims the gate (`lockstep_gate_answers`: the first answer wins, a
second is refused) and queues the thread's continuation in the same transaction, so a worker
runs it with the queue's limits and retries. A thread the queue already owns continues its
own job; any other thread (started by the CLI or the server) gets a new job that adopts it.

`human_approval` triggers map this onto a workflow's gate: a webhook's `approve`/`reject`
become the trigger's `on_approve`/`on_reject` decisions, and past the deadline (the gate's
declared `timeout`, or the trigger's for a gate without one) the scheduler answers
`on_timeout` (default: the gate's own `timeout` decision).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from lockstep.client import Lockstep, ThreadStatus
from lockstep.errors import LockstepError, ThreadStateError
from lockstep.gates import claim_gate
from lockstep.queue.config import QueueConfig
from lockstep.queue.store import Job, JobQueue
from lockstep.queue.trigger_config import ApprovalTrigger
from lockstep.threads import resume_payload
from lockstep.triggers import engine as engines

__all__ = ["deadline_of", "decide", "map_decision", "sweep_deadlines"]


def decide(
    client: Lockstep,
    queue: JobQueue,
    thread_id: str,
    decision: str,
    *,
    by: str,
    comment: str | None = None,
) -> Job:
    """Answer the thread's pending gate with `decision` and queue its continuation; raises
    (changing nothing) when the thread is not at a gate, the gate does not allow the decision
    or someone answered first."""
    with queue.db.transaction():
        job = engines.continue_thread(
            queue, client, thread_id, decision, comment=comment, by=by, update=False
        )
        if job is not None:
            return job
        current = client.status(thread_id)
        if resume_payload(current, decision, comment=comment, by=by) is None:
            raise ThreadStateError(f"thread {thread_id} is not waiting at a gate")
        claim_gate(client.db, current, decision, by)
        row = client.db.thread(thread_id) or {}
        return queue.submit(
            current.workflow,
            json.loads(row.get("input") or "{}"),
            user=row.get("created_by"),
            thread_id=thread_id,
            resume={"decision": decision, "comment": comment, "by": by},
        )


def map_decision(trigger: ApprovalTrigger, decision: str) -> str:
    """A webhook's `approve`/`reject` as the gate's decision; other words pass unchanged (the
    gate then checks them)."""
    if decision == "approve" and trigger.on_approve:
        return trigger.on_approve
    if decision == "reject" and trigger.on_reject:
        return trigger.on_reject
    return decision


def _trigger_for(config: QueueConfig, status: ThreadStatus) -> ApprovalTrigger | None:
    gate = (status.gate or {}).get("gate")
    for trigger in config.approvals().values():
        if trigger.workflow == status.workflow and trigger.waiting_for == gate:
            return trigger
    return None


def _answered(client: Lockstep, status: ThreadStatus) -> bool:
    rows = client.db.query(
        "SELECT 1 AS one FROM lockstep_gate_answers WHERE thread_id = ? AND interrupt_id = ?",
        (status.thread_id, (status.gate or {}).get("interrupt_id")),
    )
    return bool(rows)


def deadline_of(status: ThreadStatus, trigger: ApprovalTrigger | None) -> str | None:
    """The gate's deadline: its own (declared timeout), else entry time + the trigger's."""
    gate = status.gate or {}
    if gate.get("deadline") or trigger is None or trigger.timeout is None:
        return gate.get("deadline")
    entered = next(
        (t["at"] for t in reversed(status.transitions) if t["to"] == gate.get("gate")), None
    )
    if entered is None:
        return None
    return (datetime.fromisoformat(entered) + timedelta(seconds=trigger.timeout)).isoformat()


def sweep_deadlines(
    client: Lockstep, queue: JobQueue, *, now: datetime, by: str = "scheduler"
) -> list[dict[str, Any]]:
    """Answer every gate past its deadline with its timeout decision, queueing the
    continuation; gates someone answered first are skipped, never answered twice. First,
    threads whose session (`timeouts.session`) ran out while waiting are paused
    (`Lockstep.expire_sessions`)."""
    outcomes: list[dict[str, Any]] = list(client.expire_sessions(by=by))
    for row in client.db.threads():
        try:
            status = client.status(row["thread_id"])
        except LockstepError:  # a workflow this process does not know: not ours to answer
            continue
        if status.gate is None:
            continue
        trigger = _trigger_for(queue.config, status)
        deadline = deadline_of(status, trigger)
        if deadline is None or datetime.fromisoformat(deadline) >= now:
            continue
        decision = (trigger.on_timeout if trigger else None) or "timeout"
        outcome: dict[str, Any] = {
            "thread_id": status.thread_id,
            "gate": status.gate["gate"],
            "decision": decision,
            "deadline": deadline,
        }
        if decision not in status.gate["decisions"] or _answered(client, status):
            continue  # no timeout decision, or answered already and waiting for a worker
        try:
            job = decide(client, queue, status.thread_id, decision, by=by)
        except LockstepError as exc:  # answered in the meantime, or the job is busy
            outcomes.append({**outcome, "outcome": "skipped", "reason": str(exc)})
            continue
        outcomes.append({**outcome, "outcome": "queued", "job_id": job.id})
    return outcomes
