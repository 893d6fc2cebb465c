"""The protocol's assistant and thread routes: assistants search/get (one per workflow),
threads create/get/search, state and history."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from lockstep.aclient import AsyncLockstep
from lockstep.graphs import WORKFLOWS, workflow_machine, workflow_module
from lockstep.server.api import require
from lockstep.server.auth import Principal
from lockstep.server.protocol.execute import ACTIVE, settle, state
from lockstep.server.protocol.shapes import (
    assistant,
    interrupts_of,
    jsonable,
    state_of,
    workflow_of_assistant,
)
from lockstep.server.protocol.store import (
    caller,
    client_of,
    new_thread,
    runs_of,
    thread_row,
    visible,
    visible_threads,
)

__all__ = ["router"]

router = APIRouter(tags=["langgraph"])
Caller = Depends(caller)


class AssistantSearch(BaseModel):
    model_config = ConfigDict(extra="allow")

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class ThreadCreate(BaseModel):
    model_config = ConfigDict(extra="allow")

    thread_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None
    if_exists: str | None = Field(default=None, description="`raise` (409) or `do_nothing`.")


class ThreadSearch(BaseModel):
    model_config = ConfigDict(extra="allow")

    ids: list[str] | None = None
    metadata: dict[str, Any] | None = None
    status: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class HistoryRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    limit: int = Field(default=10, ge=1, le=1000)
    before: dict[str, Any] | str | None = None


@router.get("/info")
def info() -> dict[str, Any]:
    """What this server offers, as LangGraph's servers describe themselves."""
    return {"version": "lockstep", "flags": {"assistants": True, "crons": False,
                                              "langsmith": False}}  # fmt: skip


@router.post("/assistants/search")
def search_assistants(body: AssistantSearch, principal: Principal = Caller) -> list[dict[str, Any]]:
    """One assistant per workflow; `graph_id` (and `name`) is the workflow's name."""
    found = [
        assistant(name)
        for name in sorted(WORKFLOWS)
        if body.graph_id in (None, name) and body.name in (None, name)
    ]
    if body.metadata:
        found = [a for a in found if body.metadata.items() <= a["metadata"].items()]
    return found[body.offset : body.offset + body.limit]


@router.get("/assistants/{assistant_id}")
def get_assistant(assistant_id: str, principal: Principal = Caller) -> dict[str, Any]:
    """An assistant by its ID or graph ID."""
    return assistant(workflow_of_assistant(assistant_id))


@router.get("/assistants/{assistant_id}/graph")
def assistant_graph(assistant_id: str, principal: Principal = Caller) -> dict[str, Any]:
    """The workflow's graph (nodes and edges) as LangGraph draws it."""
    graph = workflow_module(workflow_of_assistant(assistant_id)).graph
    drawn: dict[str, Any] = jsonable(graph.get_graph().to_json())
    return drawn


@router.get("/assistants/{assistant_id}/schemas")
def assistant_schemas(assistant_id: str, principal: Principal = Caller) -> dict[str, Any]:
    """The workflow's input, output and state JSON schemas."""
    name = workflow_of_assistant(assistant_id)
    graph = workflow_module(name).graph
    return {
        "graph_id": name,
        "input_schema": jsonable(graph.get_input_jsonschema()),
        "output_schema": jsonable(graph.get_output_jsonschema()),
        "state_schema": jsonable(graph.get_output_jsonschema()),
        "config_schema": {},
        "context_schema": {},
    }


async def _thread(client: AsyncLockstep, entry: dict[str, Any]) -> dict[str, Any]:
    """A Thread: its values, pending interrupts and status (busy while a run is in
    progress, interrupted at a gate, error in its workflow's error state, else idle)."""
    thread_id = entry["thread_id"]
    now = await state(client, thread_id)
    runs = await asyncio.to_thread(runs_of, client.db, thread_id)
    busy = False
    for row in runs:
        if row["status"] in ACTIVE:
            row = await asyncio.to_thread(settle, client.sync.queue, row)
            busy = busy or row["status"] in ACTIVE
    workflow = entry.get("workflow")
    failed = bool(workflow) and now["values"].get("status") == (
        workflow_machine(str(workflow)).error_state
    )
    metadata = dict(entry.get("metadata") or {})
    if workflow:
        metadata["graph_id"] = workflow
    status = (
        "busy" if busy else "interrupted" if now["interrupts"] else "error" if failed else "idle"
    )
    return {
        "thread_id": thread_id,
        "created_at": entry["created_at"],
        "updated_at": now["created_at"] or entry.get("updated_at") or entry["created_at"],
        "metadata": {
            **(entry.get("metadata") or {}),
            **({"graph_id": workflow} if workflow else {}),
        },
        "status": status,
        "values": now["values"],
        "interrupts": interrupts_of(now),
    }


async def _entry(client: AsyncLockstep, principal: Principal, thread_id: str) -> dict[str, Any]:
    await asyncio.to_thread(visible, client.db, principal, thread_id)
    row = await asyncio.to_thread(thread_row, client.db, thread_id) or {}
    started = await asyncio.to_thread(client.db.thread, thread_id) or {}
    return {"thread_id": thread_id, "created_at": started.get("created_at"), **row,
            "workflow": started.get("workflow")}  # fmt: skip


@router.post("/threads")
async def create_thread(
    body: ThreadCreate, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """A new thread of the caller's (its workflow is the assistant of its first run)."""
    require(principal, "submitter")
    client = client_of(request)
    thread_id, created = await asyncio.to_thread(
        new_thread, client.db, principal, body.thread_id, body.metadata or {}
    )
    if not created and body.if_exists != "do_nothing":
        raise HTTPException(409, f"thread {thread_id!r} already exists")
    return await _thread(client, await _entry(client, principal, thread_id))


@router.post("/threads/search")
async def search_threads(
    body: ThreadSearch, request: Request, principal: Principal = Caller
) -> list[dict[str, Any]]:
    """The caller's threads (every thread, for admins), newest first."""
    client = client_of(request)
    found = []
    skipped = 0
    for entry in await asyncio.to_thread(visible_threads, client.db, principal):
        if body.ids is not None and entry["thread_id"] not in body.ids:
            continue
        thread = await _thread(client, entry)
        if body.metadata and not body.metadata.items() <= thread["metadata"].items():
            continue
        if body.status not in (None, thread["status"]):
            continue
        if skipped < body.offset:
            skipped += 1
            continue
        found.append(thread)
        if len(found) >= body.limit:
            break
    return found


@router.get("/threads/{thread_id}")
async def get_thread(
    thread_id: str, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """The thread with its values and pending interrupts."""
    client = client_of(request)
    return await _thread(client, await _entry(client, principal, thread_id))


@router.get("/threads/{thread_id}/state")
async def get_state(
    thread_id: str, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """The thread's latest state: values, next steps, tasks with their interrupts."""
    client = client_of(request)
    await asyncio.to_thread(visible, client.db, principal, thread_id)
    return await state(client, thread_id)


@router.get("/threads/{thread_id}/state/{checkpoint_id}")
async def get_state_at(
    thread_id: str, checkpoint_id: str, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """The thread's state at one checkpoint."""
    client = client_of(request)
    entry = await _entry(client, principal, thread_id)
    if not entry["workflow"]:
        raise HTTPException(404, f"unknown checkpoint {checkpoint_id!r}")
    config = {"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}}
    snapshot = await client.graph(entry["workflow"]).aget_state(config)
    if snapshot.config is None or not snapshot.created_at:
        raise HTTPException(404, f"unknown checkpoint {checkpoint_id!r}")
    return state_of(thread_id, snapshot)


@router.post("/threads/{thread_id}/history")
async def get_history(
    thread_id: str, body: HistoryRequest, request: Request, principal: Principal = Caller
) -> list[dict[str, Any]]:
    """The thread's states, newest first."""
    client = client_of(request)
    entry = await _entry(client, principal, thread_id)
    if not entry["workflow"]:
        return []
    before = body.before
    if isinstance(before, str):
        before = {"configurable": {"checkpoint_id": before}}
    elif isinstance(before, dict) and "configurable" not in before:
        before = {"configurable": before}
    config = {"configurable": {"thread_id": thread_id}}
    graph = client.graph(entry["workflow"])
    return [
        state_of(thread_id, snap)
        async for snap in graph.aget_state_history(config, limit=body.limit, before=before)
    ]
