"""Runs: what a run request means for a lockstep thread (start it, answer its gate, or
queue either for a worker), running it in the server, and following a job's run.

A run request is checked whole before anything starts (roles, workflow, inputs, the gate's
decision) so that a refusal is an HTTP error, never a half-started stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from lockstep.aclient import AsyncLockstep
from lockstep.gates import claim_gate
from lockstep.graphs import workflow_machine
from lockstep.queue.store import Job, JobQueue
from lockstep.server.api import require
from lockstep.server.auth import Principal
from lockstep.server.protocol.shapes import RUN_STATUS, jsonable, state_of, workflow_of_assistant
from lockstep.server.protocol.store import run_row, set_run
from lockstep.threads import resume_payload
from lockstep.triggers import engine as engines

__all__ = ["ACTIVE", "Plan", "RunRequest", "execute", "follow_job", "plan_run", "settle", "state"]

ACTIVE = ("pending", "running")
POLL_SECONDS = 0.5
Emit = Callable[[str, Any], Awaitable[None]]


class RunRequest(BaseModel):
    """A run: the assistant (a workflow's assistant ID or graph ID) with either `input` (the
    workflow's inputs: start the thread) or `command` (`{"resume": {"decision": ...,
    "comment": ...}}`: answer its gate). The deciding user is the API key's. Other fields the
    SDK sends are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    assistant_id: str = Field(examples=["brief"])
    input: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    stream_mode: str | list[str] = "values"
    metadata: dict[str, Any] | None = None
    if_not_exists: str | None = Field(default=None, description="`create` or `reject`.")

    def modes(self) -> list[str]:
        return [self.stream_mode] if isinstance(self.stream_mode, str) else self.stream_mode


@dataclass
class Plan:
    """A checked run: in the server (`payload`, the graph input) or by a worker (`job`)."""

    workflow: str
    thread_id: str
    payload: Any = None
    job: Job | None = None


def _answer(command: dict[str, Any], pending: dict[str, Any] | None) -> dict[str, Any]:
    """The gate answer a `Command` carries: `{"decision": ...}`, a bare decision, or either
    keyed by the pending interrupt's ID."""
    if set(command) - {"resume"}:
        raise HTTPException(422, "only command={'resume': ...} is supported (no goto, update)")
    resume = command.get("resume")
    if isinstance(resume, dict) and pending and pending.get("interrupt_id") in resume:
        resume = resume[pending["interrupt_id"]]
    if isinstance(resume, str):
        resume = {"decision": resume}
    if not isinstance(resume, dict) or not isinstance(resume.get("decision"), str):
        raise HTTPException(422, "command.resume must be a gate answer: {'decision': ...}")
    answer = {k: v for k, v in resume.items() if v is not None and k != "by"}
    if any(not isinstance(v, str) for v in answer.values()):
        raise HTTPException(422, "the gate answer's fields must be text")
    return answer


async def plan_run(
    client: AsyncLockstep,
    principal: Principal,
    thread_id: str,
    body: RunRequest,
    *,
    background: bool,
) -> Plan:
    """Check the run and do what must happen before it runs: register the thread or claim
    the gate. A thread a job runs is always continued by a worker (as the REST API does)."""
    workflow = workflow_of_assistant(body.assistant_id)
    db, queue = client.db, client.sync.queue
    row = await asyncio.to_thread(db.thread, thread_id)
    if row is not None and row["workflow"] != workflow:
        raise HTTPException(409, f"thread {thread_id} runs {row['workflow']}, not {workflow}")
    job: Job | None = await asyncio.to_thread(queue.of_thread, thread_id)
    if job is not None and job.status in ("queued", "running"):
        raise HTTPException(409, f"thread {thread_id} has a run in progress (job {job.id})")
    if body.command is not None:
        require(principal, "approver")
        if row is None:
            raise HTTPException(409, f"thread {thread_id} has not run yet: nothing to resume")
        current = await client.status(thread_id)
        answer = _answer(body.command, current.gate)
        decision, comment = answer.pop("decision"), answer.pop("comment", None)
        by = principal.user
        if job is not None and job.status != "succeeded":
            cont = await asyncio.to_thread(
                lambda: engines.continue_thread(
                    queue, client.sync, thread_id, decision, comment=comment, by=by, **answer
                )
            )
            return Plan(workflow, thread_id, job=cont)
        if background:
            resume_payload(current, decision, comment=comment, by=by, **answer)
            await asyncio.to_thread(claim_gate, db, current, decision, by)
            resume = {"decision": decision, "comment": comment, "by": by, **answer}
            adopted = await asyncio.to_thread(
                queue.submit, workflow, {}, user=by, thread_id=thread_id, resume=resume
            )
            return Plan(workflow, thread_id, job=adopted)
        _, payload = await client.answer(thread_id, decision, comment=comment, by=by, **answer)
        return Plan(workflow, thread_id, payload=payload)
    require(principal, "submitter")
    if row is not None or job is not None:
        raise HTTPException(
            409,
            f"thread {thread_id} has already run: answer its gate with "
            "command={'resume': {'decision': ...}}, or start a new thread",
        )
    inputs = dict(body.input or {})
    if background:
        submitted = await asyncio.to_thread(
            lambda: engines.submit(
                queue, workflow, inputs, user=principal.user, thread_id=thread_id
            )
        )
        return Plan(workflow, thread_id, job=submitted)
    _, payload = await client.start(
        workflow, thread_id=thread_id, created_by=principal.user, **inputs
    )
    return Plan(workflow, thread_id, payload=payload)


async def state(client: AsyncLockstep, thread_id: str) -> dict[str, Any]:
    """The thread's ThreadState now (empty before its first run)."""
    row = await asyncio.to_thread(client.db.thread, thread_id)
    if row is None:
        return state_of(thread_id, None)
    config = {"configurable": {"thread_id": thread_id}}
    return state_of(thread_id, await client.graph(row["workflow"]).aget_state(config))


def _ended(workflow: str, values: dict[str, Any]) -> str | None:
    """An error when the thread ended in its workflow's error state."""
    if values.get("status") == workflow_machine(workflow).error_state:
        return str(values.get("error") or "the workflow failed")
    return None


async def execute(
    client: AsyncLockstep, plan: Plan, run_id: str, modes: list[str], emit: Emit
) -> None:
    """Run a planned in-server run to its next stop, emitting `(mode, data)` per step:
    `updates` ({step: update}) and `values` (the thread's values), then the interrupt at a
    gate, or `error`. Keeps the run's record."""
    db = client.db
    await asyncio.to_thread(set_run, db, run_id, "running")
    try:
        async for node, update in client.stream(plan.workflow, plan.payload, plan.thread_id):
            if "updates" in modes:
                await emit("updates", {node: jsonable(update)})
            if "values" in modes:
                await emit("values", (await state(client, plan.thread_id))["values"])
        now = await state(client, plan.thread_id)
        if now["interrupts"]:
            for mode in ("updates", "values"):
                if mode in modes:
                    await emit(mode, {"__interrupt__": now["interrupts"]})
            await asyncio.to_thread(set_run, db, run_id, "interrupted")
        else:
            error = _ended(plan.workflow, now["values"])
            await asyncio.to_thread(set_run, db, run_id, "error" if error else "success", error)
    except asyncio.CancelledError:
        await asyncio.to_thread(set_run, db, run_id, "interrupted", "cancelled")
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        await asyncio.to_thread(set_run, db, run_id, "error", error)
        await emit("error", {"error": type(exc).__name__, "message": str(exc)})


def settle(queue: JobQueue, row: dict[str, Any]) -> dict[str, Any]:
    """A worker's run's record brought up to date with its job."""
    if not row["job_id"] or row["status"] not in ACTIVE:
        return row
    job = queue.get(row["job_id"])
    status = RUN_STATUS.get(job.status, "running")
    if status != row["status"]:
        error = job.error if status in ("error", "interrupted", "timeout") else None
        set_run(queue.db, row["run_id"], status, error)
        row = run_row(queue.db, row["thread_id"], row["run_id"]) or row
    return row


async def follow_job(
    client: AsyncLockstep, thread_id: str, run_id: str, deadline: float = 3600.0
) -> dict[str, Any]:
    """Wait for a worker's run to stop (or `deadline` seconds); its settled record."""
    queue = client.sync.queue
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        row = await asyncio.to_thread(run_row, client.db, thread_id, run_id)
        if row is None:
            raise HTTPException(404, f"unknown run {run_id!r}")
        row = await asyncio.to_thread(settle, queue, row)
        if row["status"] not in ACTIVE or loop.time() > end:
            return row
        await asyncio.sleep(POLL_SECONDS)
