"""The one submit seam: the CLI, the server and the triggers queue a run (or answer a gate of
a queued thread) here, and this picks the engine the configuration names (`engine:` in
lockstep.yaml): lockstep's own queue, or Temporal (`lockstep.temporal`, imported only then, so
the built-in engine never needs the `temporal` extra). It lives in the triggers layer because
that is the lowest layer that may import both engines (docs/ARCHITECTURE.md, "Engines").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lockstep.client import Lockstep
from lockstep.errors import InvalidDecision, SubmitRefused
from lockstep.queue.store import Job, JobQueue

__all__ = ["cancel", "continue_thread", "on_temporal", "submit"]


def on_temporal(queue: JobQueue, engine: str | None = None) -> bool:
    """`engine` when given, else the queue configuration's `engine:`."""
    return (engine or queue.config.engine.type) == "temporal"


@contextmanager
def _engine(queue: JobQueue) -> Iterator[Any]:
    """The Temporal engine on the queue's database (a client opened for the call when the
    queue has none: the scheduler's)."""
    from lockstep.temporal import engine_for

    own = queue.client is None
    client = queue.client or Lockstep(queue.db.url)
    try:
        engine = engine_for(client, queue.config)
        engine.jobs = queue  # the caller's database and transaction (a trigger's firing)
        yield engine
    finally:
        if own:
            client.close()


def submit(
    jobs: JobQueue,
    workflow: str,
    inputs: dict[str, Any] | None = None,
    /,
    *,
    engine: str | None = None,
    **options: Any,
) -> Job:
    """Queue a run of `workflow` on the configured engine; the job (its row in lockstep's
    database on either engine). `options`: queue, priority, user, idempotency_key,
    thread_id, parent_id (and `resume`, built-in engine only)."""
    if not on_temporal(jobs, engine):
        return jobs.submit(workflow, inputs, **options)
    if options.get("resume") is not None:  # not built: a workflow adopting an existing thread
        raise SubmitRefused(
            "a job adopting an existing thread at its gate runs on the built-in engine only"
        )
    with _engine(jobs) as temporal:
        started = temporal.submit(workflow, inputs or {}, **options)
    return jobs.get(started.job_id)


def continue_thread(
    queue: JobQueue,
    client: Lockstep,
    thread_id: str,
    decision: str,
    *,
    comment: str | None = None,
    by: str | None = None,
    update: bool = True,
    **fields: Any,
) -> Job | None:
    """Answer the gate of a thread a job owns and have the engine continue it; None when no
    job owns it (the caller runs it). On Temporal the answer is a workflow Update (`update`:
    refused by the workflow's validator, nothing recorded) or a signal (claimed in the
    database first: webhooks, deadlines)."""
    if not on_temporal(queue):
        return queue.continue_thread(client, thread_id, decision, comment=comment, by=by, **fields)
    job = queue.of_thread(thread_id)
    if job is None or job.final:
        return None
    from temporalio.client import WorkflowUpdateFailedError

    try:
        with _engine(queue) as temporal:
            temporal.answer(thread_id, decision, comment=comment, by=by, update=update, **fields)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise InvalidDecision(str(getattr(cause, "message", None) or cause or exc)) from exc
    return queue.get(job.id)


def cancel(queue: JobQueue, job: Job, *, by: str | None) -> Job:
    """Cancel a job on its engine. On Temporal its workflow is cancelled: the running step
    stops at its boundary, the partial work is saved and the row ends `cancelled`."""
    if (
        not on_temporal(queue)
        or job.final
        or not job.queue.startswith(queue.config.engine.task_queue_prefix)
    ):
        queue.cancel(job.id, by=by)
    else:
        with _engine(queue) as engine:
            engine.cancel(job.thread_id, wait=None)
    return queue.get(job.id, events=True)
