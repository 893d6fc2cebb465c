"""`TemporalEngine`: the client side of the Temporal engine. It starts a thread's workflow
(submit), answers its gate (Update or signal), cancels it, and lists dead letters (workflows
that ended failed) through a visibility query.

The thread itself is registered in lockstep's database at submit, exactly as on the built-in
queue, so `status`, `show`, `artifacts`, `history`, `audit`, the web page and the API read it
the same way whichever engine runs it. Submit-rate limits are checked there too.
Each method has an async form (`a...`, for the server) and a sync one (CLI, notebooks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import Priority, WorkflowIDConflictPolicy

from lockstep.client import Lockstep
from lockstep.errors import ThreadStateError
from lockstep.gates import claim_gate
from lockstep.graphs import workflow_machine
from lockstep.queue.config import EngineDecl, QueueConfig, parse_priority
from lockstep.queue.store import JobQueue
from lockstep.temporal.types import WORKFLOW_NAME, GateAnswer, JobInput, priority_key
from lockstep.threads import resume_payload, start_payload

__all__ = ["Submitted", "TemporalEngine", "connect", "job_input"]

T = TypeVar("T")


@dataclass
class Submitted:
    """A thread started on Temporal: its workflow ID is its thread ID."""

    thread_id: str
    workflow: str
    queue: str
    task_queue: str
    priority: int
    run_id: str | None
    job_id: str | None = None
    """Its row in `lockstep_jobs` (what `GET /jobs/{id}` reads)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def connect(engine: EngineDecl) -> Client:
    """A Temporal client on the configured cluster address and namespace."""
    return await Client.connect(engine.address, namespace=engine.namespace)


def job_input(
    config: QueueConfig,
    workflow: str,
    thread_id: str,
    *,
    database_url: str | None,
    queue: str,
    priority: int,
    user: str | None,
    job_id: str | None = None,
) -> JobInput:
    """Map lockstep's knobs onto the workflow's: step timeouts (the `timeouts:` block, else the
    machine's), the lease, and the queue's retries and backoff."""
    machine = workflow_machine(workflow)
    engine = config.engine
    steps: dict[str, float] = {}
    for state in machine.states.values():
        if state.type != "step":
            continue
        seconds = config.timeouts.step(state.name) or state.timeout
        if seconds:
            steps[state.name] = seconds
    retry = config.queue_system.retry
    return JobInput(
        thread_id=thread_id,
        workflow=workflow,
        database_url=database_url,
        queue=queue,
        priority=priority,
        user=user,
        step_timeouts=steps,
        default_step_timeout=config.timeouts.step_default or engine.step_timeout,
        heartbeat_timeout=engine.heartbeat_timeout,
        max_attempts=config.max_retries(queue) + 1,
        retry_base=retry.base_delay,
        retry_max=retry.max_delay,
        per_superstep=engine.activity_per == "superstep",
        config_path=config.source,
        job_id=job_id,
        task_queue=f"{engine.task_queue_prefix}{queue}",
    )


class TemporalEngine:
    """Start, answer, cancel and list lockstep threads running as Temporal workflows."""

    def __init__(
        self, client: Lockstep, config: QueueConfig, *, temporal: Client | None = None
    ) -> None:
        """`temporal`: an already connected client (a test environment's), else one is
        connected from `config.engine` on first use."""
        self.client = client
        self.config = config
        self.engine = config.engine
        self._temporal: Client | None = temporal
        self.jobs: JobQueue | None = None
        """The job queue whose database (and transaction) submits write to; default: a
        queue on the client's database with this engine's configuration."""

    async def temporal(self) -> Client:
        if self._temporal is None:
            self._temporal = await connect(self.engine)
        return self._temporal

    def task_queue(self, queue: str) -> str:
        return f"{self.engine.task_queue_prefix}{queue}"

    # -- submit ----------------------------------------------------------------------------

    async def asubmit(
        self,
        workflow: str,
        inputs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: str | int | None = None,
        user: str | None = None,
        idempotency_key: str | None = None,
        thread_id: str | None = None,
        parent_id: str | None = None,
    ) -> Submitted:
        """Register the thread (inputs checked now) and start its workflow; a repeated
        idempotency key returns the thread it started."""
        qname, decl = self.config.queue(queue)
        prio = decl.priority if priority is None else parse_priority(priority)
        jobs = self.jobs or JobQueue(self.client.db, self.config, client=self.client)
        with jobs.db.transaction():
            job = jobs.submit(
                workflow,
                inputs,
                queue=qname,
                priority=prio,
                user=user,
                idempotency_key=idempotency_key,
                thread_id=thread_id,
                parent_id=parent_id,
            )
            if job.queue == qname:  # a new job: lockstep's own workers never claim it
                jobs.db.execute(
                    "UPDATE lockstep_jobs SET queue = ? WHERE id = ?",
                    (self.task_queue(qname), job.id),
                )
                now = self.client._clock().isoformat()
                start_payload(jobs.db, workflow, job.thread_id, now, user, job.input)
        thread_id = job.thread_id
        run = job_input(
            self.config,
            workflow,
            thread_id,
            database_url=self.client.db.url,
            queue=qname,
            priority=job.priority,
            user=job.user_name,
            job_id=job.id,
        )
        handle = await (await self.temporal()).start_workflow(
            WORKFLOW_NAME,
            run,
            id=thread_id,
            task_queue=self.task_queue(qname),
            priority=Priority(priority_key=priority_key(job.priority)),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={"workflow": workflow, "user": user or "", "queue": qname},
        )
        return Submitted(
            thread_id,
            workflow,
            qname,
            self.task_queue(qname),
            job.priority,
            handle.result_run_id,
            job.id,
        )

    # -- gates -----------------------------------------------------------------------------

    async def aanswer(
        self,
        thread_id: str,
        decision: str,
        *,
        comment: str | None = None,
        by: str | None = None,
        update: bool = False,
        **fields: Any,
    ) -> str:
        """Answer the thread's pending gate. Checked against the gate in the checkpointer first
        (a refused decision records nothing). By default the answer is claimed in the database
        (first answer wins) and signalled, so it is kept even while no worker runs; `update`
        sends a workflow Update instead, which a running worker's validator accepts or refuses
        before the call returns."""
        current = self.client.status(thread_id)
        if resume_payload(current, decision, comment=comment, by=by, **fields) is None:
            raise ThreadStateError(f"thread {thread_id} is not waiting at a gate")
        gate = current.gate or {}
        extra = {k: v for k, v in fields.items() if v is not None}
        answer = GateAnswer(decision, by or "unknown", comment, gate.get("interrupt_id"), extra)
        handle = (await self.temporal()).get_workflow_handle(thread_id)
        if update:
            result: str = await handle.execute_update("answer", answer, result_type=str)
            return result
        claim_gate(self.client.db, current, decision, by)
        answer.claimed = True
        await handle.signal("answer-signal", answer)
        return f"{decision} sent to gate {gate.get('gate')}"

    # -- cancel, status, dead letters -------------------------------------------------------

    async def acancel(self, thread_id: str, *, wait: float | None = 30.0) -> str:
        """Cancel the thread's workflow; the running step stops at its checkpoint and the
        partial work is saved `incomplete`. Returns the workflow's status after `wait`."""
        handle = (await self.temporal()).get_workflow_handle(thread_id)
        await handle.cancel()
        if wait:
            with contextlib.suppress(WorkflowFailureError, TimeoutError):
                await asyncio.wait_for(handle.result(), wait)
        desc = await handle.describe()
        return desc.status.name.lower() if desc.status else "unknown"

    async def adescribe(self, thread_id: str) -> dict[str, Any]:
        """The workflow's status, task queue and priority as Temporal sees them."""
        desc = await (await self.temporal()).get_workflow_handle(thread_id).describe()
        return {
            "thread_id": thread_id,
            "status": desc.status.name.lower() if desc.status else "unknown",
            "task_queue": desc.task_queue,
            "priority_key": desc.raw_info.priority.priority_key or None,
        }

    async def adead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Threads whose workflow ended failed (retries spent, or the machine's error state),
        newest first, from a visibility query."""
        temporal = await self.temporal()
        query = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Failed'"
        found: list[dict[str, Any]] = []
        async for wf in temporal.list_workflows(query, limit=limit):
            error = ""
            try:
                await temporal.get_workflow_handle(wf.id, run_id=wf.run_id).result()
            except WorkflowFailureError as exc:
                cause = exc.cause
                error = str(getattr(cause, "cause", None) or cause)
            memo = await wf.memo()
            found.append(
                {
                    "thread_id": wf.id,
                    "workflow": memo.get("workflow"),
                    "queue": memo.get("queue"),
                    "closed_at": wf.close_time.isoformat() if wf.close_time else None,
                    "error": " ".join(error.split())[:300],
                }
            )
        return found

    # -- sync forms --------------------------------------------------------------------------

    def _sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run one call on a fresh loop and connection (a client is bound to its loop)."""
        self._temporal = None

        async def go() -> T:
            return await make()

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no loop in this thread
            try:
                return asyncio.run(go())
            finally:
                self._temporal = None
        try:  # inside a running loop (a notebook): on a helper thread with its own
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(asyncio.run, go()).result()
        finally:
            self._temporal = None

    def submit(self, workflow: str, inputs: dict[str, Any] | None = None, **kw: Any) -> Submitted:
        return self._sync(lambda: self.asubmit(workflow, inputs, **kw))

    def answer(self, thread_id: str, decision: str, **kw: Any) -> str:
        return self._sync(lambda: self.aanswer(thread_id, decision, **kw))

    def cancel(self, thread_id: str, *, wait: float | None = 30.0) -> str:
        return self._sync(lambda: self.acancel(thread_id, wait=wait))

    def describe(self, thread_id: str) -> dict[str, Any]:
        return self._sync(lambda: self.adescribe(thread_id))

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._sync(lambda: self.adead_letters(limit))
