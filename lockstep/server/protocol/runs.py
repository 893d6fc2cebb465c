"""The protocol's run routes: background runs (`runs.create`, queued for a worker), runs
the server drives (`runs.wait`, `runs.stream`), and `runs.get/list/join/cancel`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from lockstep.aclient import AsyncLockstep
from lockstep.server.api import require
from lockstep.server.auth import Principal
from lockstep.server.protocol.execute import (
    ACTIVE,
    Plan,
    RunRequest,
    execute,
    follow_job,
    plan_run,
    settle,
    state,
)
from lockstep.server.protocol.shapes import output_of, run_doc
from lockstep.server.protocol.store import (
    caller,
    client_of,
    insert_run,
    new_thread,
    owner_of,
    run_row,
    runs_of,
    visible,
)
from lockstep.triggers import engine as engines

__all__ = ["router"]

router = APIRouter(tags=["langgraph"])
Caller = Depends(caller)
SSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
}
PING_SECONDS = 15


def _tasks(request: Request) -> dict[str, asyncio.Task[None]]:
    """This process's in-server runs by run ID (for cancel and join)."""
    state_ = request.app.state
    if not hasattr(state_, "protocol_tasks"):
        state_.protocol_tasks = {}
    tasks: dict[str, asyncio.Task[None]] = state_.protocol_tasks
    return tasks


async def _prepare(
    request: Request,
    principal: Principal,
    thread_id: str | None,
    body: RunRequest,
    *,
    background: bool,
) -> tuple[Plan, dict[str, Any]]:
    """Check and plan a run (registering its thread when new), and record it."""
    client = client_of(request)
    db = client.db
    new = thread_id is None or (
        body.if_not_exists == "create" and not (await asyncio.to_thread(owner_of, db, thread_id))[0]
    )
    if new:
        require(principal, "submitter")
        tid, _ = await asyncio.to_thread(new_thread, db, principal, thread_id, {})
    else:
        assert thread_id is not None
        tid = thread_id
    await asyncio.to_thread(visible, db, principal, tid)
    for row in await asyncio.to_thread(runs_of, db, tid):  # earlier runs end first
        await asyncio.to_thread(settle, client.sync.queue, row)
    plan = await plan_run(client, principal, tid, body, background=background)
    row = await asyncio.to_thread(
        insert_run, db, thread_id=tid, assistant_id=body.assistant_id,
        workflow=plan.workflow, user=principal.user, metadata=body.metadata or {},
        job_id=plan.job.id if plan.job else None,
    )  # fmt: skip
    return plan, row


def _spawn(
    request: Request, client: AsyncLockstep, plan: Plan, run_id: str, modes: list[str], emit: Any
) -> asyncio.Task[None]:
    """Drive the run in a task of its own: it finishes even if the caller goes away."""
    tasks = _tasks(request)
    task = asyncio.create_task(execute(client, plan, run_id, modes, emit))
    tasks[run_id] = task
    task.add_done_callback(lambda _: tasks.pop(run_id, None))
    return task


def _where(thread_id: str, run_id: str) -> dict[str, str]:
    return {"Content-Location": f"/threads/{thread_id}/runs/{run_id}"}


async def _output(client: AsyncLockstep, thread_id: str, run_id: str) -> dict[str, Any]:
    row = await asyncio.to_thread(run_row, client.db, thread_id, run_id)
    error = row["error"] if row and row["status"] in ("error", "timeout") else None
    return output_of(await state(client, thread_id), error)


async def _nothing(mode: str, data: Any) -> None:
    return None


async def _wait(
    request: Request, principal: Principal, thread_id: str | None, body: RunRequest
) -> JSONResponse:
    client = client_of(request)
    plan, row = await _prepare(request, principal, thread_id, body, background=False)
    if plan.job is not None:
        await follow_job(client, plan.thread_id, row["run_id"])
    else:
        task = _spawn(request, client, plan, row["run_id"], [], _nothing)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:  # the run was cancelled (not this request): report it
            if not task.cancelled():
                raise
    out = await _output(client, plan.thread_id, row["run_id"])
    return JSONResponse(out, headers=_where(plan.thread_id, row["run_id"]))


async def _stream(
    request: Request, principal: Principal, thread_id: str | None, body: RunRequest
) -> EventSourceResponse:
    client = client_of(request)
    plan, row = await _prepare(request, principal, thread_id, body, background=False)
    run_id, modes = row["run_id"], body.modes()
    sink: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()

    async def put(mode: str, data: Any) -> None:
        await sink.put((mode, data))

    if plan.job is None:
        task = _spawn(request, client, plan, run_id, modes, put)
        task.add_done_callback(lambda _: sink.put_nowait(None))

    async def events() -> AsyncIterator[ServerSentEvent]:
        meta = {"run_id": run_id, "thread_id": plan.thread_id, "attempt": 1}
        yield ServerSentEvent(json.dumps(meta), event="metadata")
        if plan.job is not None:  # a worker runs it: report where it stopped
            done = await follow_job(client, plan.thread_id, run_id)
            now = await state(client, plan.thread_id)
            if "values" in modes:
                yield ServerSentEvent(json.dumps(now["values"]), event="values")
            if now["interrupts"] and "updates" in modes:
                data = {"__interrupt__": now["interrupts"]}
                yield ServerSentEvent(json.dumps(data), event="updates")
            if done["status"] in ("error", "timeout"):
                error = {"error": done["status"], "message": done["error"] or done["status"]}
                yield ServerSentEvent(json.dumps(error), event="error")
            return
        while (item := await sink.get()) is not None:
            yield ServerSentEvent(json.dumps(item[1]), event=item[0])

    return EventSourceResponse(events(), ping=PING_SECONDS, headers=_where(plan.thread_id, run_id))


async def _create(
    request: Request, principal: Principal, thread_id: str | None, body: RunRequest
) -> JSONResponse:
    plan, row = await _prepare(request, principal, thread_id, body, background=True)
    return JSONResponse(run_doc(row), headers=_where(plan.thread_id, row["run_id"]))


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str, body: RunRequest, request: Request, principal: Principal = Caller
) -> JSONResponse:
    """A background run: queued as a job for a worker (`lockstep worker`)."""
    return await _create(request, principal, thread_id, body)


@router.post("/runs")
async def create_stateless_run(
    body: RunRequest, request: Request, principal: Principal = Caller
) -> JSONResponse:
    """A background run on a new thread."""
    return await _create(request, principal, None, body)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: str, body: RunRequest, request: Request, principal: Principal = Caller
) -> JSONResponse:
    """Run in the server to the next stop; the thread's values (`__interrupt__` at a gate)."""
    return await _wait(request, principal, thread_id, body)


@router.post("/runs/wait")
async def wait_stateless_run(
    body: RunRequest, request: Request, principal: Principal = Caller
) -> JSONResponse:
    """`runs.wait` on a new thread."""
    return await _wait(request, principal, None, body)


@router.post("/threads/{thread_id}/runs/stream", response_class=EventSourceResponse, responses=SSE)
async def stream_run(
    thread_id: str, body: RunRequest, request: Request, principal: Principal = Caller
) -> EventSourceResponse:
    """Run in the server, streaming `metadata`, then `values` and/or `updates` per step."""
    return await _stream(request, principal, thread_id, body)


@router.post("/runs/stream", response_class=EventSourceResponse, responses=SSE)
async def stream_stateless_run(
    body: RunRequest, request: Request, principal: Principal = Caller
) -> EventSourceResponse:
    """`runs.stream` on a new thread."""
    return await _stream(request, principal, None, body)


async def _run(
    request: Request, principal: Principal, thread_id: str, run_id: str
) -> dict[str, Any]:
    client = client_of(request)
    await asyncio.to_thread(visible, client.db, principal, thread_id)
    row = await asyncio.to_thread(run_row, client.db, thread_id, run_id)
    if row is None:
        raise HTTPException(404, f"unknown run {run_id!r}")
    return await asyncio.to_thread(settle, client.sync.queue, row)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    request: Request,
    principal: Principal = Caller,
    limit: int = Query(default=10, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The thread's runs, newest first."""
    client = client_of(request)
    await asyncio.to_thread(visible, client.db, principal, thread_id)
    rows = await asyncio.to_thread(runs_of, client.db, thread_id)
    rows = [await asyncio.to_thread(settle, client.sync.queue, r) for r in rows]
    return [run_doc(r) for r in rows if status in (None, r["status"])][offset : offset + limit]


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(
    thread_id: str, run_id: str, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """One run."""
    return run_doc(await _run(request, principal, thread_id, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    thread_id: str, run_id: str, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Wait for the run to stop; the thread's values as `runs.wait` answers them."""
    client = client_of(request)
    row = await _run(request, principal, thread_id, run_id)
    task = _tasks(request).get(run_id)
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    elif row["status"] in ACTIVE:
        await follow_job(client, thread_id, run_id)
    return await _output(client, thread_id, run_id)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", status_code=202)
async def cancel_run(
    thread_id: str,
    run_id: str,
    request: Request,
    principal: Principal = Caller,
    wait: bool = False,
    action: str = Query(default="interrupt", pattern="^(interrupt|rollback)$"),
) -> Response:
    """Cancel a run: a worker's job is cancelled (at its next step boundary when running);
    a run in this server is stopped. The thread keeps its checkpoints (`rollback` is not
    offered: 422)."""
    if action != "interrupt":
        raise HTTPException(422, "only action=interrupt is supported")
    if not principal.can("operator"):
        require(principal, "submitter")
    client = client_of(request)
    row = await _run(request, principal, thread_id, run_id)
    if row["status"] not in ACTIVE:
        raise HTTPException(409, f"run {run_id} is already {row['status']}")
    task = _tasks(request).get(run_id)
    if row["job_id"]:
        jobs = client.sync.queue
        job = await asyncio.to_thread(jobs.get, row["job_id"])
        await asyncio.to_thread(lambda: engines.cancel(jobs, job, by=principal.user))
        if wait:
            await follow_job(client, thread_id, run_id)
    elif task is not None:
        task.cancel()
        if wait:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    else:
        raise HTTPException(409, f"run {run_id} runs in another server process")
    return Response(status_code=202)
