"""Triggers on a FastAPI app: `POST /hooks/{name}`, and the scheduler for the app's lifespan.

`lockstep.server.create_app()` calls `attach_triggers`; any FastAPI app can too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from lockstep.queue.config import QueueConfig
from lockstep.triggers.scheduler import Scheduler, start_in_thread
from lockstep.triggers.webhooks import Webhooks, webhook_router

__all__ = ["attach_triggers"]


def attach_triggers(
    app: FastAPI,
    database_url: str | None = None,
    *,
    config: QueueConfig | None = None,
    scheduler: bool = False,
) -> None:
    """Include the webhook router in `app` and, with `scheduler`, run the scheduler loop on a
    background thread while the app runs (started and stopped by its lifespan). `config`
    defaults to `$LOCKSTEP_CONFIG` or `./lockstep.yaml`."""
    hooks = Webhooks(database_url, config=config)
    app.include_router(webhook_router(hooks))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        runner = Scheduler(database_url, config=hooks.config) if scheduler else None
        thread = start_in_thread(runner) if runner is not None else None
        try:
            async with inner(application) as state:
                yield state
        finally:
            if runner is not None and thread is not None:
                runner.stop()
                await asyncio.to_thread(thread.join, 30)
            await asyncio.to_thread(hooks.close)

    app.router.lifespan_context = lifespan
