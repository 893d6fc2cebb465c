"""Operator recovery and retention: `rollback`, `escalate`, `abandon`, `prune`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from lockstep.cli.common import (
    DbOption,
    JsonOption,
    error_boundary,
    open_client,
    out,
    report,
    who,
)

app = typer.Typer()


@app.command()
def rollback(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    to: Annotated[str | None, typer.Option("--to", help="Checkpoint id to fork from.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Fork from the latest entry into this state.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (for the audit log).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Continue from an earlier checkpoint as a fork; later history is kept, marked superseded."""
    with error_boundary(thread_id):
        client = open_client(db)
        st = client.rollback(thread_id, to=to, state=state, reason=reason, by=who(by))
        report(st, client, as_json)
        if not as_json:
            out.print(f"        continue with: lockstep resume {escape(thread_id)}")


@app.command()
def escalate(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Halt the thread and route it to the workflow's human review gate now."""
    with error_boundary(thread_id):
        client = open_client(db)
        st = client.escalate(thread_id, reason=reason, by=who(by))
        report(st, client, as_json)


@app.command()
def abandon(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Mark the thread abandoned, saving its work in progress as incomplete artifacts."""
    with error_boundary(thread_id):
        client = open_client(db)
        st = client.abandon(thread_id, reason=reason, by=who(by))
        report(st, client, as_json)


@app.command()
def prune(
    older_than: Annotated[str, typer.Option(help="Age of finished threads to prune: 7d, 12h.")],
    keep_latest: Annotated[
        bool, typer.Option(help="Keep each thread's latest checkpoint.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Only report what would be removed.")] = False,
    artifacts: Annotated[bool, typer.Option(help="Also delete the threads' artifacts.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Remove checkpoints of finished threads older than the cutoff, then unreferenced blobs."""
    from lockstep.retention import parse_age

    with error_boundary():
        report = open_client(db).prune(
            parse_age(older_than),
            keep_latest=keep_latest,
            dry_run=dry_run,
            artifacts=artifacts,
            by=who(None),
        )
    if as_json:
        out.print_json(json.dumps(report))
        return
    verb = "would remove" if dry_run else "removed"
    for t in report["threads"]:
        out.print(
            f"{escape(t['thread_id'])}: {verb} {t['checkpoints']} checkpoints, "
            f"{t['artifacts']} artifacts"
        )
    for t in report["skipped"]:
        out.print(f"{escape(t['thread_id'])}: skipped ({escape(t['status'])})")
    out.print(f"{verb} {report['blobs']} unreferenced blobs")
