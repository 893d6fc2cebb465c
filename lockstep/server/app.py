"""`create_app()`: the FastAPI app behind `lockstep serve`, and routers other apps can mount.

One `AsyncLockstep` (async savers) lives for the app's lifespan. Errors from lockstep map to
JSON with a fitting status; bodies over 1 MB are refused before they are read whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockstep.aclient import AsyncLockstep
from lockstep.errors import LockstepError, http_reply
from lockstep.graphs import WORKFLOWS
from lockstep.server.api import authenticated, router
from lockstep.server.endpoints import (
    EndpointOutput,
    WorkflowEndpoint,
    input_model,
    precheck,
    thread_config,
)
from lockstep.server.jobs import router as jobs_router
from lockstep.server.metrics import router as metrics_router
from lockstep.server.protocol import router as protocol_router
from lockstep.server.web import static_files, web_router
from lockstep.triggers.app import attach_triggers

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 1_000_000
"""Largest request body accepted, in bytes (413 beyond)."""


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, counting as they stream in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": "request body over 1 MB"}, 413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await JSONResponse({"detail": "request body over 1 MB"}, 413)(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(
    database_url: str | None = None,
    *,
    auth: bool = True,
    cors_origins: Sequence[str] = (),
    scheduler: bool = False,
    **options: Any,
) -> FastAPI:
    """The server: LangServe routes per workflow at `/langserve/<name>`, the REST API, the
    jobs API, metrics, health, the web page at `/`, signed webhooks at `/hooks/<name>` and,
    with `scheduler`, the trigger scheduler.

    `auth=False` makes every caller the local admin (for `--no-auth` on loopback only).
    `cors_origins` lets browser pages from those origins call the API (CORS is off without).
    `config=` (a path or `QueueConfig`; default `$LOCKSTEP_CONFIG` or `./lockstep.yaml`)
    configures the job queue; other options go to `AsyncLockstep`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client:
            yield

    client = AsyncLockstep(database_url, **options)
    client.sync.queue  # noqa: B018 - load the queue config now: a bad file stops the start
    app = FastAPI(
        title="lockstep",
        version="0.1.0",
        description="Checkpointed, guarded, resumable LangGraph workflows.",
        lifespan=lifespan,
    )
    app.state.lockstep = client
    app.state.auth = auth

    @app.exception_handler(LockstepError)
    async def lockstep_error(request: Request, exc: LockstepError) -> JSONResponse:
        status, headers = http_reply(exc)
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status, headers)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, bool]:
        """The process is up."""
        return {"ok": True}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """The database answers."""
        try:
            await asyncio.to_thread(client.db.query, "SELECT 1 AS one")
        except Exception as exc:  # any failure means not ready; say which
            return JSONResponse({"ok": False, "detail": str(exc).splitlines()[0]}, 503)
        return JSONResponse({"ok": True})

    app.include_router(router)
    app.include_router(jobs_router)
    app.include_router(metrics_router)
    app.include_router(protocol_router)
    app.include_router(web_router)
    app.mount("/ui/static", static_files(), name="static")
    from langserve import add_routes

    for name in sorted(WORKFLOWS):
        add_routes(
            app,
            WorkflowEndpoint(name, client),
            path=f"/langserve/{name}",
            input_type=input_model(name),
            output_type=EndpointOutput,
            per_req_config_modifier=thread_config,
            dependencies=[Depends(authenticated), Depends(precheck(name, client))],
            enable_feedback_endpoint=False,
            disabled_endpoints=["stream_log"],
        )
    attach_triggers(app, database_url, config=client.sync.queue.config, scheduler=scheduler)
    app.add_middleware(BodyLimit)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Api-Key"],
            expose_headers=["Retry-After"],
        )
    return app
