"""The Temporal activities: advance a thread by one LangGraph superstep against lockstep's own
checkpointer, and save a stopped thread's partial work.

One activity is one superstep (`interrupt_after="*"`), so Temporal's unit of retry is
lockstep's unit of checkpoint. An activity first compares the thread's checkpoint with the one
the workflow last saw: if it moved, an earlier attempt committed the step before its worker
died, and the activity reports where the thread is instead of running anything. A step is
therefore never re-run once its checkpoint is written; only a step in flight at a crash runs
again, exactly as on lockstep's own queue.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from lockstep.client import Lockstep, ThreadStatus
from lockstep.db import connection_lost
from lockstep.errors import CallCancelled, InvalidDecision, LockstepError, StorageError
from lockstep.gates import claim_gate
from lockstep.graphs import workflow_machine
from lockstep.queue.config import QueueConfig
from lockstep.queue.limits import RateLimiter, limit_key
from lockstep.temporal import jobs
from lockstep.temporal.types import (
    PARTIAL_ACTIVITY,
    STEP_ACTIVITY,
    GateAnswer,
    JobInput,
    PartialCall,
    StepCall,
    StepResult,
)
from lockstep.threads import resume_payload

__all__ = ["ACTIVITIES", "WorkerSettings", "advance", "run_step", "save_partial"]

GATE_KEYS = ("gate", "decisions", "comment_required", "requires", "deadline", "interrupt_id")


class WorkerSettings:
    """What the worker process gives its activities: its database, its configuration and the
    identity its job-row leases carry."""

    database_url: str | None = None
    config: QueueConfig = QueueConfig()
    model: Any = None
    identity: str = "temporal"


_local = threading.local()


class _Stop(Exception):
    """Raised at a step boundary when the activity was cancelled or its worker shuts down."""


def _client(job: JobInput) -> Lockstep:
    """This activity thread's client on the worker's database (kept between activities)."""
    url = WorkerSettings.database_url or job.database_url
    client: Lockstep | None = getattr(_local, "client", None)
    if client is None or getattr(_local, "url", None) != url:
        client = Lockstep(url, model=WorkerSettings.model)
        client.settings["limiter"] = RateLimiter(client.db, WorkerSettings.config.limits("call"))
        _local.client, _local.url = client, url
    return client


def _drop_client() -> None:
    client = getattr(_local, "client", None)
    _local.client = None
    if client is not None:
        try:
            client.close()
        except Exception:  # already broken
            return


def result_of(status: ThreadStatus, *, ran: bool) -> StepResult:
    """The workflow's view of a thread: small, JSON, never the state itself."""
    gate = {k: status.gate.get(k) for k in GATE_KEYS} if status.gate else None
    failed = status.final and status.status == workflow_machine(status.workflow).error_state
    return StepResult(
        checkpoint_id=status.checkpoint_id,
        status=status.status,
        final=status.final,
        next=list(status.next),
        gate=gate,
        error=status.error,
        ran=ran,
        failed=failed,
    )


def _drive_one(
    client: Lockstep, workflow: str, thread_id: str, payload: Any, hook: Any, *, one: bool = True
) -> None:
    """Run one superstep of the thread's graph (LangGraph stops after it: interrupt_after), or
    with `one=False` on to the next gate or the end, routing a step failure through the
    machine like `Lockstep` does."""
    graph = client.graph(workflow)
    config = {"configurable": {"thread_id": thread_id}}
    try:
        for chunk in graph.stream(
            payload,
            config,
            context=client.context(),
            stream_mode="updates",
            durability="sync",
            interrupt_after="*" if one else None,
        ):
            for node, update in chunk.items():
                if isinstance(update, Mapping):
                    hook(node, update)
    except LockstepError:
        raise
    except Exception as exc:
        if not client._route_failure(workflow, thread_id, exc, hook):
            raise
        if not one:
            _drive_one(client, workflow, thread_id, None, hook, one=False)


def _claim(client: Lockstep, current: ThreadStatus, answer: GateAnswer) -> None:
    """Take the gate's first-answer-wins claim, unless this answer already holds it (the sender
    claimed it, or an earlier attempt of this activity did)."""
    try:
        claim_gate(client.db, current, answer.decision, answer.by)
    except InvalidDecision:
        gate = current.gate or {}
        rows = client.db.query(
            "SELECT decision FROM lockstep_gate_answers WHERE thread_id = ? AND interrupt_id = ?",
            (current.thread_id, gate.get("interrupt_id")),
        )
        if not rows or rows[0]["decision"] != answer.decision:
            raise


def advance(client: Lockstep, call: StepCall, hook: Any) -> StepResult:
    """Advance `call.job.thread_id` by one superstep, or not at all when its checkpoint is no
    longer `call.seen` (already advanced), it is final, or it waits at a gate unanswered."""
    job = call.job
    row = client.db.thread(job.thread_id)
    if row is None:
        raise LockstepError(f"thread {job.thread_id} is not registered (submit registers it)")
    current = client.status(job.thread_id)
    if current.checkpoint_id != call.seen or current.final:
        return result_of(current, ran=False)
    payload: Any = None
    if current.checkpoint_id is None:
        payload = json.loads(row.get("input") or "{}")
    elif current.gate is not None:
        answer = call.answer
        if answer is None:
            return result_of(current, ran=False)
        if answer.interrupt_id not in (None, current.gate.get("interrupt_id")):
            raise InvalidDecision(f"the answer is for another gate than {current.gate['gate']!r}")
        payload = resume_payload(
            current, answer.decision, comment=answer.comment, by=answer.by, **answer.fields
        )
        _claim(client, current, answer)
    _drive_one(client, job.workflow, job.thread_id, payload, hook, one=job.per_superstep)
    return result_of(client.status(job.thread_id), ran=True)


def _record_tokens(client: Lockstep, job: JobInput, used: int) -> None:
    """LLM tokens spent count against `applies_to: tokens` limits in lockstep's database."""
    if used <= 0:
        return
    limiter = RateLimiter(client.db, WorkerSettings.config.limits("tokens"))
    for name, decl in WorkerSettings.config.limits("tokens").items():
        if decl.workflow in (None, job.workflow):
            limiter.record(name, limit_key(decl, user=job.user, workflow=job.workflow), used)


def _heartbeat(
    done: threading.Event, cancel: threading.Event, every: float, renew: Callable[[], None]
) -> None:
    """Heartbeat while the step runs (the lease, Temporal's and the job row's), and learn of a
    cancel through it."""
    while not done.wait(every):
        activity.heartbeat()
        if activity.is_cancelled() or activity.is_worker_shutdown():
            cancel.set()  # drops an LLM call in flight (RunContext.cancel)
        try:
            renew()
        except Exception:  # the database is away: the row's lease lapses, Temporal's holds
            activity.logger.warning("could not renew the job row's lease", exc_info=True)


@activity.defn(name=STEP_ACTIVITY)
def run_step(call: StepCall) -> StepResult:
    """Take a slot on the job row (or report that none is free), advance the thread by one
    superstep, and settle the row; a cancel stops it at the step boundary."""
    job = call.job
    done, cancel = threading.Event(), threading.Event()
    every = max(0.2, min(job.heartbeat_timeout / 3, 5.0))
    slot: jobs.Slot | None = None

    def renew() -> None:
        if slot is not None:
            jobs.renew(client, slot)

    beat = threading.Thread(
        target=contextvars.copy_context().run,
        args=(_heartbeat, done, cancel, every, renew),
        daemon=True,
    )

    def hook(node: str, update: Mapping[str, Any]) -> None:
        activity.heartbeat(node)  # the superstep ends at its checkpoint: nothing to stop here
        if slot is not None:
            slot.queue.event(slot.job.id, "checkpointed", {"step": node})

    try:
        client = _client(job)
        config = WorkerSettings.config
        got = jobs.acquire(client, config, job, job.task_queue, WorkerSettings.identity)
        if isinstance(got, str):
            return StepResult(call.seen, "", final=False, ran=False, full=got)
        if got is None and job.job_id:  # the job row ended: settled before a lost reply, or
            return _row_ended(client, job)  # cancelled / timed out in lockstep's database
        slot = got
        client.settings.update(user=job.user, workflow=job.workflow, cancel=cancel)
        beat.start()
        metered = bool(config.limits("tokens"))
        before = client.status(job.thread_id).total_tokens if metered and call.seen else 0
        with activity.shield_thread_cancel_exception():
            result = advance(client, call, hook)
        if activity.is_cancelled() or activity.is_worker_shutdown():
            if slot is not None:
                jobs.release(slot)
            raise _Stop(result.status)  # checkpointed: the next attempt sees it and skips
        if result.ran and metered:
            _record_tokens(client, job, client.status(job.thread_id).total_tokens - before)
        if slot is not None:
            result.timed_out = jobs.settle(client, slot, client.status(job.thread_id))
        return result
    except (_Stop, CallCancelled, CancelledError) as exc:
        if activity.is_worker_shutdown() and not activity.is_cancelled():
            raise ApplicationError("worker shutting down", type="WorkerShutdown") from exc
        raise CancelledError("cancelled at a step boundary") from exc
    except LockstepError as exc:
        if isinstance(exc, StorageError):
            _drop_client()
            raise  # transient: Temporal retries the activity
        _ended(slot, exc, dead=False)
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
    except Exception as exc:
        if connection_lost(exc):
            _drop_client()
        else:
            _ended(slot, exc, dead=activity.info().attempt >= job.max_attempts)
        raise
    finally:
        done.set()


def _row_ended(client: Lockstep, job: JobInput) -> StepResult:
    """The job row is final: report the thread as it rests when it is final too (an earlier
    attempt settled it, then its reply was lost); else the row was stopped in the database."""
    current = client.status(job.thread_id)
    if current.final:
        return result_of(current, ran=False)
    row = client.queue.get(str(job.job_id))
    if row.status == "timed_out":
        result = result_of(current, ran=False)
        result.timed_out = row.error or "timed out"
        return result
    raise ApplicationError(
        f"job {row.id} is {row.status} in lockstep's database: {row.error or ''}".strip(),
        type="JobEnded",
        non_retryable=True,
    )


def _ended(slot: jobs.Slot | None, exc: BaseException, *, dead: bool) -> None:
    """Record a failed step on the job row: released for a retry, or ended for good."""
    if slot is None:
        return
    error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
    try:
        if isinstance(exc, LockstepError) or dead:
            jobs.ended_badly(slot, error, dead=dead)
        else:
            jobs.release(slot)
    except Exception:
        activity.logger.warning("could not record the failed step on its job", exc_info=True)


@activity.defn(name=PARTIAL_ACTIVITY)
def save_partial(call: PartialCall) -> list[str]:
    """Save the thread's work in progress as `incomplete` artifacts, and audit why it stopped."""
    client = _client(call.job)
    thread_id = call.job.thread_id
    saved = client.save_partial(thread_id, by="temporal", step=call.reason)
    client.db.record(thread_id, call.reason, {"saved": saved, "engine": "temporal"}, "temporal")
    if call.job.job_id:
        reason = f"{call.reason} on Temporal" + (
            f"; saved incomplete: {', '.join(saved)}" if saved else ""
        )
        jobs.stopped(client, WorkerSettings.config, call.job.job_id, call.reason, reason)
    return saved


ACTIVITIES: list[Callable[..., Any]] = [run_step, save_partial]
