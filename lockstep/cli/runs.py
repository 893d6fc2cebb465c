"""Start and continue runs: `run brief`, `run training`, `resume`."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lockstep.cli import temporal
from lockstep.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    Progress,
    ResearchModeOption,
    err,
    error_boundary,
    exit_for,
    open_client,
    out,
    report,
    training_inputs,
)

app = typer.Typer()
run_app = typer.Typer(help="Start a workflow run.", no_args_is_help=True)
app.add_typer(run_app, name="run")


@run_app.command("brief")
def run_brief(
    topic: Annotated[str, typer.Option(help="The question the brief answers.")],
    sources: Annotated[list[Path], typer.Option(help="Folder of .md/.txt/.html sources.")],
    research_mode: ResearchModeOption = "locked",
    thread_id: Annotated[str | None, typer.Option(help="Thread ID (default: random).")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Research and write a policy brief; stops at completion, rejection or a human gate."""
    thread_id = thread_id or uuid.uuid4().hex
    with error_boundary(thread_id):
        client = open_client(db)
        err.print(f"thread {escape(thread_id)}")
        with Progress(quiet=as_json) as progress:
            st = client.run(
                "brief",
                topic=topic,
                sources=[str(s) for s in sources],
                research_mode=research_mode,
                thread_id=thread_id,
                on_update=progress,
            )
        report(st, client, as_json)
    exit_for(st)


@run_app.command("training")
def run_training(
    topic: Annotated[str | None, typer.Option(help="What the course covers.")] = None,
    sources: Annotated[
        list[Path] | None, typer.Option(help="Folder(s) of the policies to cover.")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="Who takes the course.")] = None,
    duration: Annotated[int | None, typer.Option(help="Course length in minutes.")] = None,
    deadline: Annotated[str | None, typer.Option(help="Date the course must be live.")] = None,
    language: Annotated[str | None, typer.Option(help="Language code, e.g. en.")] = None,
    request: Annotated[
        Path | None, typer.Option(help="A YAML request file (options given here override it).")
    ] = None,
    thread_id: Annotated[str | None, typer.Option(help="Thread ID (default: random).")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Design an annual compliance course; stops at each approval gate."""
    thread_id = thread_id or uuid.uuid4().hex
    with error_boundary(thread_id):
        inputs = training_inputs(
            request,
            topic=topic,
            sources=[str(s) for s in sources] if sources else None,
            audience=audience,
            duration=duration,
            deadline=deadline,
            language=language,
        )
        client = open_client(db)
        err.print(f"thread {escape(thread_id)}")
        with Progress(quiet=as_json) as progress:
            st = client.run("training", thread_id=thread_id, on_update=progress, **inputs)
        report(st, client, as_json)
    exit_for(st)


@app.command()
def resume(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    decision: Annotated[str | None, typer.Option(help="Gate decision.")] = None,
    comment: Annotated[str | None, typer.Option(help="Comment for the decision.")] = None,
    by: Annotated[str | None, typer.Option(help="Who decides (for the audit log).")] = None,
    sources: Annotated[Path | None, typer.Option(help="Sources folder to add.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    config: ConfigOption = None,
    engine: temporal.EngineOption = None,
) -> None:
    """Continue a thread from its last checkpoint (a gate decision, or after a crash); on
    Temporal, answer its workflow's gate."""
    extra: dict[str, Any] = {"sources": str(sources)} if sources else {}
    who = by or os.environ.get("USER")
    with error_boundary(thread_id):
        on_temporal = temporal.wants_temporal(engine, config)
    if on_temporal:
        temporal.resume_thread(
            thread_id, decision, comment=comment, by=who, extra=extra, db=db, config=config
        )
    with error_boundary(thread_id):
        client = open_client(db)
        job = client.queue.continue_thread(
            client, thread_id, decision, comment=comment, by=who, **extra
        )
        if job is not None:
            if as_json:
                out.print_json(json.dumps(job.to_dict(), default=str))
                return
            out.print(f"job     {escape(job.id)} ({job.status}): the continuation runs on a worker")
            out.print(f"        follow it with: lockstep job {escape(job.id)}")
            return
        with Progress(quiet=as_json) as progress:
            st = client.resume(
                thread_id,
                decision,
                comment=comment,
                by=who,
                on_update=progress,
                **extra,
            )
        report(st, client, as_json)
    exit_for(st)
