"""What happens when a job ends: `workflow_complete` triggers start the next workflow, and the
workflow's `notify:` targets get an event queued for delivery.

`FOLLOW_UPS`, registered with the queue when `lockstep.triggers` is imported, reads the
ended run's outputs before the end (`prepare`) and calls `job_ended` inside the transaction
that records it, so the next
job (its `parent_id` is the ended job, which a cancel follows) and the notification rows are
written exactly when the end is: a crash loses neither, and a lost lease (the end not written)
starts neither. Each firing is claimed as `(trigger, <job>@<end event>)`, once per end.

The ended run is passed on as `previous`:

    previous.outputs     the thread's final state fields (artifact refs included), without
                         the machine's bookkeeping (transition log, usage)
    previous.artifacts   {name: ref} of the thread's latest complete artifacts
    previous.job_id, .thread_id, .workflow, .status (job), .outcome (state), .error

A chain acts for the ended job's user: every artifact reference in the next job's input must
name an artifact of a thread that user (or the action's `user`) owns, as a submit's must;
otherwise the firing is skipped with the reason, and no job starts.
"""

from __future__ import annotations

from typing import Any

from lockstep.client import Lockstep
from lockstep.errors import LockstepError, TriggerError
from lockstep.ownership import check_refs
from lockstep.queue.store import Job, JobQueue
from lockstep.queue.templates import render_mapping
from lockstep.queue.trigger_config import Action
from lockstep.triggers.fires import fire

__all__ = ["FOLLOW_UPS", "NOTIFY_EVENT", "chain_depth", "job_ended", "outputs_of"]

MATCHES = {
    "success": ("succeeded",),
    "failed": ("failed", "dead_lettered", "timed_out"),
    "any": ("succeeded", "failed", "dead_lettered", "timed_out", "cancelled"),
}
"""Job statuses each `status:` of a workflow_complete trigger fires on."""
NOTIFY_EVENT = {
    "succeeded": "completed",
    "waiting_human": "waiting_human",
    "failed": "failed",
    "dead_lettered": "failed",
    "timed_out": "timed_out",
    "cancelled": "cancelled",
}
"""The `notify:` event each job status announces."""
_BOOKKEEPING = ("transitions", "usage")


def outputs_of(client: Lockstep, job: Job) -> dict[str, Any]:
    """The ended run as templates see it (`previous`); empty outputs when its thread never
    started (a job cancelled while queued)."""
    outputs: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    try:
        values = client.values(job.thread_id)
        outputs = {k: v for k, v in values.items() if k not in _BOOKKEEPING}
        for meta in client.artifacts_of(job.thread_id):
            if meta.status == "complete":
                artifacts[meta.name] = meta.ref  # oldest first: the latest version wins
    except LockstepError:
        pass
    return {
        "job_id": job.id,
        "thread_id": job.thread_id,
        "workflow": job.workflow,
        "outputs": outputs,
        "artifacts": artifacts,
    }


def chain_depth(queue: JobQueue, job: Job) -> int:
    """How many parents the job has (a first job is at depth 0)."""
    depth, parent, seen = 0, job.parent_id, {job.id}
    while parent and parent not in seen:
        seen.add(parent)
        rows = queue.db.query("SELECT parent_id FROM lockstep_jobs WHERE id = ?", (parent,))
        if not rows:
            break
        depth += 1
        parent = rows[0]["parent_id"]
    return depth


def _foreign_ref(queue: JobQueue, job: Job, name: str, action: Action, context: Any) -> str | None:
    """Why the chained input may not be submitted (an artifact its users may not read)."""
    users = {job.user_name, action.user or f"trigger:{name}"}
    try:
        inputs = render_mapping(action.input_mapping, context)
    except TriggerError:
        return None  # `fire` records why
    try:
        check_refs(queue.db, inputs, lambda owner: owner in users)
    except LockstepError as exc:
        return f"{exc}: the input names an artifact the chain's user may not read"
    return None


def job_ended(queue: JobQueue, job: Job, status: str, previous: dict[str, Any]) -> None:
    """Fire the completion triggers matching `job`'s end and queue its notifications (called
    by `JobQueue` inside the transaction that ends the job)."""
    from lockstep.triggers.notify import enqueue

    seq = queue.db.query(
        "SELECT MAX(seq) AS seq FROM lockstep_job_events WHERE job_id = ?", (job.id,)
    )[0]["seq"]
    context = {
        "previous": {
            **previous,
            "status": status,
            "outcome": job.outcome,
            "error": job.error,
        }
    }
    context["event"] = {"type": "workflow_complete", **context["previous"]}
    for name, trigger in queue.config.completions(job.workflow).items():
        if status not in MATCHES[trigger.status]:
            continue
        skip = None
        if trigger.max_depth is not None:
            depth = chain_depth(queue, job) + 1
            if depth > trigger.max_depth:
                skip = f"max_depth {trigger.max_depth} reached (the next job would be {depth} deep)"
        skip = skip or _foreign_ref(queue, job, name, trigger.action, context)
        fire(
            queue,
            name,
            "workflow_complete",
            f"{job.id}@{seq}",
            trigger.action,
            context,
            detail={"job_id": job.id, "status": status, "workflow": job.workflow},
            parent_id=job.id,
            skip=skip,
        )
    event = NOTIFY_EVENT.get(status)
    if event is not None:
        enqueue(queue, job, event, context["previous"])


class FollowUps:
    """The queue's end hook: completion triggers and notifications of an ended job."""

    def prepare(self, queue: JobQueue, job: Job) -> dict[str, Any] | None:
        if not queue.config.reacts_to(job.workflow):
            return None
        if queue.client is None:
            queue.client = Lockstep(queue.db.url, config=queue.config)
        return outputs_of(queue.client, job)

    def ended(self, queue: JobQueue, job: Job, status: str, prepared: Any) -> None:
        job_ended(queue, job, status, prepared)


FOLLOW_UPS = FollowUps()
