"""The queue's commands: `submit`, `worker`, `jobs`, `job`, `cancel` and `dlq`; each goes through
`Lockstep(...).queue`, the code path the server and notebooks use."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lockstep.cli import temporal
from lockstep.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    PlainTable,
    ResearchModeOption,
    data_table,
    err,
    error_boundary,
    out,
    queue_client,
    setup_logging,
    training_inputs,
)
from lockstep.errors import ConfigError

if TYPE_CHECKING:
    from lockstep.queue.store import Job

app = typer.Typer()


QueueOption = Annotated[str | None, typer.Option(help="Queue (default: the config's default).")]
PriorityOption = Annotated[
    str | None, typer.Option(help="urgent, normal, batch or 0-100 (lower runs first).")
]
UserOption = Annotated[str | None, typer.Option(help="Who submits (for per-user limits).")]
KeyOption = Annotated[
    str | None, typer.Option(help="Idempotency key: a repeat returns the existing job.")
]
ParentOption = Annotated[
    str | None, typer.Option(help="Parent job (a cancel of the parent cancels this one).")
]


submit_app = typer.Typer(help="Queue a workflow run for a worker; prints the job ID.")
dlq_app = typer.Typer(help="Jobs whose retries ran out: list, show, requeue, purge.")


def _submit(
    workflow: str,
    inputs: dict[str, Any],
    *,
    queue: str | None,
    priority: str | None,
    user: str | None,
    idempotency_key: str | None,
    parent: str | None,
    db: str | None,
    config: Path | None,
    as_json: bool,
    engine: str | None = None,
) -> None:
    with error_boundary():
        on_temporal = temporal.wants_temporal(engine, config)
    if on_temporal:
        temporal.submit(
            workflow,
            inputs,
            queue=queue,
            priority=priority,
            user=user or os.environ.get("USER"),
            idempotency_key=idempotency_key,
            db=db,
            config=config,
            as_json=as_json,
            parent=parent,
        )
    with error_boundary():
        job = queue_client(db, config).queue.submit(
            workflow,
            inputs,
            queue=queue,
            priority=priority,
            user=user or os.environ.get("USER"),
            idempotency_key=idempotency_key,
            parent_id=parent,
        )
    if as_json:
        out.print_json(json.dumps(job.to_dict()))
        return
    err.print(
        f"queued {escape(job.workflow)} on {escape(job.queue)} (priority {job.priority}, "
        f"thread {escape(job.thread_id)})"
    )
    out.print(job.id)


@submit_app.command("brief")
def submit_brief(
    topic: Annotated[str, typer.Option(help="The question the brief answers.")],
    sources: Annotated[list[Path], typer.Option(help="Folder of .md/.txt/.html sources.")],
    research_mode: ResearchModeOption = "locked",
    queue: QueueOption = None,
    priority: PriorityOption = None,
    user: UserOption = None,
    idempotency_key: KeyOption = None,
    parent: ParentOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Queue a policy brief."""
    inputs = {"topic": topic, "sources": [str(s) for s in sources], "research_mode": research_mode}
    _submit(
        "brief",
        inputs,
        queue=queue,
        priority=priority,
        user=user,
        idempotency_key=idempotency_key,
        parent=parent,
        db=db,
        config=config,
        as_json=as_json,
        engine=engine,
    )


@submit_app.command("training")
def submit_training(
    request: Annotated[
        Path | None, typer.Option(help="A YAML request file (options given here override it).")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="What the course covers.")] = None,
    sources: Annotated[
        list[Path] | None, typer.Option(help="Folder(s) of the policies to cover.")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="Who takes the course.")] = None,
    duration: Annotated[int | None, typer.Option(help="Course length in minutes.")] = None,
    deadline: Annotated[str | None, typer.Option(help="Date the course must be live.")] = None,
    language: Annotated[str | None, typer.Option(help="Language code, e.g. en.")] = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
    user: UserOption = None,
    idempotency_key: KeyOption = None,
    parent: ParentOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Queue a compliance-training design."""
    with error_boundary():
        inputs = training_inputs(
            request,
            topic=topic,
            sources=[str(s) for s in sources] if sources else None,
            audience=audience,
            duration=duration,
            deadline=deadline,
            language=language,
        )
    _submit(
        "training",
        inputs,
        queue=queue,
        priority=priority,
        user=user,
        idempotency_key=idempotency_key,
        parent=parent,
        db=db,
        config=config,
        as_json=as_json,
        engine=engine,
    )


@submit_app.command("workflow")
def submit_workflow(
    name: Annotated[str, typer.Argument(metavar="WORKFLOW")],
    input: Annotated[str, typer.Option("--input", help="The run's input as a JSON object.")] = "{}",
    queue: QueueOption = None,
    priority: PriorityOption = None,
    user: UserOption = None,
    idempotency_key: KeyOption = None,
    parent: ParentOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Queue any registered workflow (lockstep.yaml `workflows:`) with a JSON input."""
    with error_boundary():
        try:
            inputs = json.loads(input)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--input is not valid JSON: {exc.msg} at char {exc.pos}") from None
        if not isinstance(inputs, dict):
            raise ConfigError("--input must be a JSON object")
    _submit(
        name,
        inputs,
        queue=queue,
        priority=priority,
        user=user,
        idempotency_key=idempotency_key,
        parent=parent,
        db=db,
        config=config,
        as_json=as_json,
        engine=engine,
    )


@app.command()
def worker(
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to drain (default: all).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once by this process.")] = 1,
    with_scheduler: Annotated[
        bool,
        typer.Option(
            "--with-scheduler",
            help="Also run the trigger scheduler (schedules, gate deadlines, notifications).",
        ),
    ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Run jobs until SIGTERM/SIGINT, then drain: running jobs stop at their next step
    boundary (checkpointed) and go back to the queue. With `--engine temporal`, run a
    Temporal worker for the queues' task queues instead."""

    import lockstep.triggers  # noqa: F401 - registers completion chains and notifications
    from lockstep.queue.config import load_config
    from lockstep.queue.worker import Worker
    from lockstep.triggers.scheduler import Scheduler

    setup_logging()
    with error_boundary():
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
        on_temporal = temporal.wants_temporal(engine, config)
    if on_temporal:
        temporal.run_worker(names, concurrency, db, config)
    with error_boundary():
        loaded = load_config(config)
        companion = Scheduler(db, config=loaded) if with_scheduler else None
        runner = Worker(
            db, config=loaded, queues=names, concurrency=concurrency, scheduler=companion
        )
        extra = ", with the scheduler" if with_scheduler else ""
        err.print(
            f"worker {runner.id}: queues {', '.join(runner.queues)}, concurrency {concurrency}"
            f"{extra}"
        )
        runner.run()
        err.print(f"worker {runner.id} stopped after {runner.processed} job run(s)")


def _job_table(jobs: list[Job]) -> PlainTable:
    from lockstep.queue.store import iso

    table = data_table("job", "workflow", "queue", "prio", "status", "tries", "thread", "submitted")
    for j in jobs:
        table.add_row(
            j.id,
            j.workflow,
            j.queue,
            str(j.priority),
            j.status + (f" ({j.outcome})" if j.outcome and j.final else ""),
            str(j.attempts),
            j.thread_id,
            (iso(j.submitted_at) or "")[:19],
        )
    return table


def _summary(job: Job) -> dict[str, Any]:
    data = job.to_dict()
    keys = (
        "id",
        "workflow",
        "queue",
        "priority",
        "status",
        "attempts",
        "thread_id",
        "user_name",
        "submitted_at",
        "started_at",
        "finished_at",
        "outcome",
        "error",
    )
    return {k: data[k] for k in keys}


@app.command()
def jobs(
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List jobs, oldest first."""
    with error_boundary():
        found = queue_client(db, config).queue.find(queue=queue, status=_status(status))
    if as_json:
        out.print_json(json.dumps([_summary(j) for j in found]))
        return
    out.print(_job_table(found))


@app.command()
def job(
    job_id: Annotated[str, typer.Argument(metavar="JOB")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """One job with its lifecycle events."""
    with error_boundary():
        found = queue_client(db, config).queue.get(job_id, events=True)
    if as_json:
        out.print_json(json.dumps(found.to_dict()))
        return
    _show(found)


def _show(found: Job) -> None:
    data = found.to_dict()
    for key in ("id", "workflow", "queue", "priority", "status", "outcome", "attempts"):
        out.print(f"{key:<10}{escape(str(data[key]))}")
    out.print(f"{'thread':<10}{escape(found.thread_id)}")
    if found.error:
        out.print(f"{'error':<10}{escape(found.error)}")
    table = data_table("at", "event", "detail", title="events", title_justify="left")
    for e in data["events"]:
        table.add_row((e["at"] or "")[:23], e["kind"], json.dumps(e["detail"]))
    out.print(table)


@app.command()
def cancel(
    target: Annotated[str, typer.Argument(metavar="JOB|THREAD")],
    wait: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for running jobs to stop (default: the config's)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who cancels (recorded).")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Cancel a job and its children: queued ones at once, running ones at their next step
    boundary (partial work is saved as incomplete artifacts). On Temporal, TARGET is the
    thread, whose workflow is cancelled."""
    with error_boundary():
        on_temporal = temporal.wants_temporal(engine, config)
    if on_temporal:
        temporal.cancel_thread(target, wait, db, config)
    with error_boundary():
        client = queue_client(db, config)
        jobs_queue = client.queue
        touched = jobs_queue.cancel(target, by=by or os.environ.get("USER"))
        limit = jobs_queue.config.cancellation.cleanup_wait if wait is None else wait
        deadline = time.monotonic() + limit
        pending = [j.id for j in touched if j.status == "running"]
        while pending and time.monotonic() < deadline:
            time.sleep(0.2)
            pending = [i for i in pending if jobs_queue.get(i).status == "running"]
        ended = [jobs_queue.get(j.id) for j in touched]
    if as_json:
        docs = [{**_summary(j), "stopping": j.id in pending} for j in ended]
        out.print_json(json.dumps(docs, default=str))
    else:
        for now in ended:
            note = " (still stopping)" if now.id in pending else ""
            out.print(f"{escape(now.id)}  {now.status}{note}")
    if pending:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Dead-lettered jobs (on Temporal: threads whose workflow ended failed)."""
    with error_boundary():
        on_temporal = temporal.wants_temporal(engine, config)
    if on_temporal:
        temporal.dead_letters(db, config, as_json)
    with error_boundary():
        found = queue_client(db, config).queue.find(status="dead_lettered")
    if as_json:
        out.print_json(json.dumps([_summary(j) for j in found]))
        return
    out.print(_job_table(found))


@dlq_app.command("show")
def dlq_show(
    job_id: Annotated[str, typer.Argument(metavar="JOB")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """A dead-lettered job with its error and attempt history."""
    with error_boundary():
        found = queue_client(db, config).queue.get(job_id, events=True)
    _show(found)


@dlq_app.command("requeue")
def dlq_requeue(
    job_ids: Annotated[list[str], typer.Argument(metavar="JOB...")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Send dead-lettered jobs back to their queues with fresh attempts."""
    with error_boundary():
        jobs_queue = queue_client(db, config).queue
        for job_id in job_ids:
            found = jobs_queue.requeue(job_id, by=os.environ.get("USER"))
            out.print(f"{escape(found.id)}  queued on {escape(found.queue)}")


@dlq_app.command("purge")
def dlq_purge(
    job_ids: Annotated[list[str] | None, typer.Argument(metavar="[JOB...]")] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="Purge every dead letter.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Delete dead-lettered jobs (the named ones, or --all)."""
    with error_boundary():
        if not job_ids and not all_jobs:
            raise ConfigError("name the jobs to purge, or pass --all")
        count = queue_client(db, config).queue.purge(job_ids or None)
    out.print(f"purged {count} dead-lettered job(s)")


def _status(value: str | None) -> str | None:
    from lockstep.queue.store import check_status

    return check_status(value)
