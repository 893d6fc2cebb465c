"""`create_app()`: the FastAPI app behind `lockstep serve`, and routers other apps can mount.

One `AsyncLockstep` (async savers) lives for the app's lifespan. Errors from lockstep map to
lockstep's one error body (`errors`) with a fitting status; bodies over 1 MB and hostile JSON
are refused before any route reads them (`bodies`); every response carries the security
headers (`headers`); the OpenAPI document lists every status with that body (`openapi`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from lockstep.aclient import AsyncLockstep
from lockstep.graphs import WORKFLOWS
from lockstep.server.api import authenticated, router
from lockstep.server.auth import authenticate
from lockstep.server.bodies import MAX_BODY, BodyGuard
from lockstep.server.endpoints import (
    EndpointOutput,
    WorkflowEndpoint,
    input_model,
    precheck,
    thread_config,
)
from lockstep.server.errors import install_error_handlers
from lockstep.server.headers import SecurityHeaders
from lockstep.server.jobs import router as jobs_router
from lockstep.server.metrics import router as metrics_router
from lockstep.server.openapi import install_openapi
from lockstep.server.protocol import router as protocol_router
from lockstep.server.web import static_files, web_router
from lockstep.triggers.app import attach_triggers

__all__ = ["MAX_BODY", "create_app"]


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

    install_error_handlers(app)
    install_openapi(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, bool]:
        """The process is up."""
        return {"ok": True}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """The database answers. Why not is told only to operators (it can name the database
        host): without their key, a failure is just `{"ok": false}`."""
        try:
            await asyncio.to_thread(client.db.query, "SELECT 1 AS one")
        except Exception as exc:  # any failure means not ready
            if await _is_operator(request):
                return JSONResponse({"ok": False, "detail": str(exc).splitlines()[0]}, 503)
            return JSONResponse({"ok": False}, 503)
        return JSONResponse({"ok": True})

    async def _is_operator(request: Request) -> bool:
        if not auth:
            return True
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        try:
            who = await asyncio.to_thread(authenticate, client.db, key.strip())
        except Exception:  # the database is away: nobody can be recognised
            return False
        return who is not None and who.can("operator")

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
            # stream_log stays on: the playground streams through it
        )
    attach_triggers(app, database_url, config=client.sync.queue.config, scheduler=scheduler)
    app.add_middleware(BodyGuard)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Api-Key"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(SecurityHeaders)
    return app
