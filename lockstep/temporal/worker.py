"""`run_worker`: a Temporal worker process for lockstep threads (`lockstep worker --engine
temporal`). One Temporal worker per lockstep queue (task queue `<prefix><queue>`), sharing a
thread pool of `concurrency` activity slots; SIGTERM/SIGINT shut it down gracefully (a running
step finishes its superstep or is retried elsewhere from its checkpoint)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from lockstep.queue.config import QueueConfig
from lockstep.temporal.activities import ACTIVITIES, WorkerSettings
from lockstep.temporal.engine import connect
from lockstep.temporal.workflow import ThreadWorkflow

__all__ = ["RUNNER", "run_worker", "serve"]

RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("lockstep")
)
"""The workflow sandbox, with lockstep's modules loaded once outside it: the workflow code
only reads its own fields and `decision_problem`, a pure function."""


async def serve(
    config: QueueConfig,
    database_url: str | None,
    *,
    queues: Sequence[str] | None = None,
    concurrency: int = 1,
    identity: str | None = None,
    model: Any = None,
    stop: asyncio.Event | None = None,
    ready: Callable[[str], None] | None = None,
    temporal: Client | None = None,
) -> None:
    """Poll the queues' task queues until `stop` is set (or a signal arrives); `temporal` is
    an already connected client (else one is connected from `config.engine`)."""
    WorkerSettings.database_url = database_url
    WorkerSettings.config = config
    WorkerSettings.model = model
    names = list(queues or config.queue_system.queues)
    for q in names:
        config.queue(q)
    identity = identity or f"{socket.gethostname()}:{os.getpid()}"
    WorkerSettings.identity = identity
    client = temporal or await connect(config.engine)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        workers = [
            Worker(
                client,
                task_queue=f"{config.engine.task_queue_prefix}{q}",
                workflows=[ThreadWorkflow],
                workflow_runner=RUNNER,
                activities=ACTIVITIES,
                activity_executor=pool,
                max_concurrent_activities=concurrency,
                identity=identity,
                # a killed worker's cached workflows move on to another worker quickly
                sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
                graceful_shutdown_timeout=timedelta(seconds=5),
            )
            for q in names
        ]
        async with contextlib.AsyncExitStack() as stack:
            for w in workers:
                await stack.enter_async_context(w)
            if ready is not None:
                ready(identity)
            await stop.wait()


def run_worker(
    config: QueueConfig,
    database_url: str | None,
    *,
    queues: Sequence[str] | None = None,
    concurrency: int = 1,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (the sync entry the CLI calls)."""
    asyncio.run(serve(config, database_url, queues=queues, concurrency=concurrency, ready=ready))
