"""The web page at `/`: one HTML file, a script and a stylesheet, plus the two reads the page
needs that the REST API does not give.

The page itself calls the REST API with the key the user typed (kept in the browser's
localStorage). `/ui/config` is open so the page can tell whether to ask for a key at all;
the thread path and its SVG diagram need a key like every other thread read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lockstep.graphs import WORKFLOWS, workflow_machine
from lockstep.machine import to_svg
from lockstep.server.api import ThreadId, authenticated, client_of, owned
from lockstep.server.auth import Principal

__all__ = ["STATIC", "static_files", "web_router"]

STATIC = Path(__file__).parent / "static"
"""The page's files (shipped as package data)."""

web_router = APIRouter(tags=["web page"])
Caller = Depends(authenticated)


def static_files() -> StaticFiles:
    """The page's script and stylesheet, for mounting at `/ui/static`."""
    return StaticFiles(directory=STATIC)


@web_router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The page (its data comes from the API, so the HTML is the same for everyone)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@web_router.get("/ui/config")
def ui_config(request: Request) -> dict[str, Any]:
    """What the page needs before it has a key: whether to ask for one, and the workflows."""
    return {"auth": bool(request.app.state.auth), "workflows": sorted(WORKFLOWS)}


def _path(request: Request, principal: Principal, thread_id: str) -> dict[str, Any]:
    row = owned(request, principal, thread_id)
    client = client_of(request).sync
    status = client.status(thread_id)
    machine = workflow_machine(row["workflow"])
    return {
        "thread_id": thread_id,
        "workflow": row["workflow"],
        "current": status.status,
        "final": status.final,
        "path": client.transitions(thread_id),
        "states": [
            {"name": s.name, "type": s.type, "description": s.description}
            for s in machine.states.values()
        ],
    }


@web_router.get("/ui/threads/{thread_id}/path")
def thread_path(
    thread_id: ThreadId, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """The thread's whole path through its state machine (every transition, oldest first),
    its current state, and the machine's states."""
    return _path(request, principal, thread_id)


@web_router.get("/ui/threads/{thread_id}/diagram.svg")
async def thread_diagram(
    thread_id: ThreadId, request: Request, principal: Principal = Caller
) -> Response:
    """The workflow's diagram as SVG with the thread's path marked and its current state
    highlighted (drawn by graphviz on the server: the page loads nothing from the network)."""
    doc = await asyncio.to_thread(_path, request, principal, thread_id)
    svg = await asyncio.to_thread(
        to_svg, workflow_machine(doc["workflow"]), highlight=doc["current"], path=doc["path"]
    )
    return Response(svg, media_type="image/svg+xml")
