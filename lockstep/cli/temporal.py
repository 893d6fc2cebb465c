"""The Temporal engine behind the queue commands: what `submit`, `worker`, `resume`, `cancel`
and `dlq list` do when `--engine temporal` (or `engine: temporal` in lockstep.yaml) picks it.

The commands stay in their own modules; they call these bodies. `lockstep.temporal` is
imported only here and only then, so the built-in engine never needs the `temporal` extra.
Each body ends the process with `os._exit` once its output is flushed: a short-lived Temporal
client can hang at interpreter exit (temporalio/sdk-python#300).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from lockstep.cli.common import err, error_boundary, out

__all__ = [
    "EngineOption",
    "cancel_thread",
    "dead_letters",
    "resume_thread",
    "run_worker",
    "submit",
    "wants_temporal",
]

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine", help="builtin (lockstep's queue) or temporal (default: the config's engine:)."
    ),
]


def _finish(code: int = 0) -> NoReturn:
    """Flush and leave now: never wait on the Temporal client's runtime at exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def _boundary(thread_id: str | None = None) -> Iterator[None]:
    """The CLI's error boundary, leaving through `_finish` on an error too."""
    try:
        with error_boundary(thread_id):
            yield
    except typer.Exit as exc:
        _finish(exc.exit_code)


def wants_temporal(engine: str | None, config: Path | None) -> bool:
    """`--engine` when given, else the configuration's `engine:`."""
    from lockstep.errors import ConfigError
    from lockstep.queue.config import load_config

    if engine not in (None, "builtin", "temporal"):
        raise ConfigError(f"--engine must be builtin or temporal, not {engine!r}")
    if engine is not None:
        return engine == "temporal"
    return load_config(config).engine.type == "temporal"


def _engine(db: str | None, config: Path | None) -> Any:
    from lockstep.cli.common import queue_client
    from lockstep.temporal import engine_for

    client = queue_client(db, config)
    return engine_for(client, client.queue.config)


def submit(
    workflow: str,
    inputs: dict[str, Any],
    *,
    queue: str | None,
    priority: str | None,
    user: str | None,
    idempotency_key: str | None,
    db: str | None,
    config: Path | None,
    as_json: bool,
    parent: str | None = None,
) -> NoReturn:
    """Register the thread and its job and start its Temporal workflow, through the submit
    seam the server and the triggers use (`lockstep.triggers.engine`); prints the thread ID."""
    from lockstep.cli.common import queue_client
    from lockstep.triggers import engine as engines

    with _boundary():
        jobs = queue_client(db, config).queue
        job = engines.submit(
            jobs,
            workflow,
            inputs,
            engine="temporal",
            queue=queue,
            priority=priority,
            user=user,
            idempotency_key=idempotency_key,
            parent_id=parent,
        )
    if as_json:
        out.print_json(json.dumps({**job.to_dict(), "task_queue": job.queue}))
    else:
        err.print(
            f"started {job.workflow} on Temporal task queue {job.queue} "
            f"(priority {job.priority}); workflow ID = thread ID"
        )
        out.print(job.thread_id)
    _finish()


def run_worker(
    queues: list[str] | None, concurrency: int, db: str | None, config: Path | None
) -> NoReturn:
    """Run a Temporal worker for the queues until SIGTERM/SIGINT."""
    from lockstep.queue.config import load_config
    from lockstep.temporal import run_worker as serve

    with _boundary():
        loaded = load_config(config)
        names = queues or list(loaded.queue_system.queues)

        def ready(identity: str) -> None:
            err.print(
                f"worker {identity}: temporal {loaded.engine.address} "
                f"({loaded.engine.namespace}), queues {', '.join(names)}, "
                f"concurrency {concurrency}"
            )

        serve(loaded, db, queues=names, concurrency=concurrency, ready=ready)
        err.print("worker stopped")
    _finish()


def resume_thread(
    thread_id: str,
    decision: str | None,
    *,
    comment: str | None,
    by: str | None,
    extra: dict[str, Any],
    db: str | None,
    config: Path | None,
) -> NoReturn:
    """Answer the thread's gate on its workflow (kept even while no worker runs)."""
    from lockstep.errors import ThreadStateError

    with _boundary(thread_id):
        if decision is None:
            raise ThreadStateError(
                f"thread {thread_id} runs on Temporal, which re-runs an interrupted step by "
                "itself: give a --decision to answer its gate"
            )
        said = _engine(db, config).answer(thread_id, decision, comment=comment, by=by, **extra)
    out.print(f"answer  {said}: the workflow continues on a Temporal worker")
    _finish()


def cancel_thread(
    thread_id: str, wait: float | None, db: str | None, config: Path | None
) -> NoReturn:
    """Cancel the thread's workflow; its partial work is saved `incomplete`."""
    with _boundary(thread_id):
        status = _engine(db, config).cancel(thread_id, wait=30.0 if wait is None else wait)
    out.print(f"{thread_id}  {status}")
    _finish(0 if status == "canceled" else 1)


def dead_letters(db: str | None, config: Path | None, as_json: bool) -> NoReturn:
    """Threads whose workflow ended failed (a visibility query)."""
    with _boundary():
        found = _engine(db, config).dead_letters()
    if as_json:
        out.print_json(json.dumps(found))
    else:
        table = Table("thread", "workflow", "queue", "closed", "error")
        for f in found:
            table.add_row(
                f["thread_id"], f["workflow"], f["queue"], (f["closed_at"] or "")[:19], f["error"]
            )
        out.print(table)
    _finish()
