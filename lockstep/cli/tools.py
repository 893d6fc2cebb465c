"""Workflow-independent tools: `verify` a brief's citations, draw a `diagram`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from lockstep.cli.common import (
    DbOption,
    JsonOption,
    err,
    error_boundary,
    open_client,
    out,
)
from lockstep.errors import ConfigError

app = typer.Typer()


@app.command()
def verify(
    draft: Annotated[Path, typer.Argument(metavar="DRAFT.md")],
    sources: Annotated[
        list[Path] | None, typer.Option(help="Folder(s) the citations point into.")
    ] = None,
    thread: Annotated[
        str | None, typer.Option(help="Check against the sources this thread stored.")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Check every footnote quote of a markdown file against its source (exit 1 on failure)."""
    from lockstep.research.checking import verify_folders, verify_thread

    with error_boundary():
        try:
            text = draft.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = escape(str(getattr(exc, "strerror", exc)))
            err.print(f"[red]error:[/red] cannot read {escape(str(draft))}: {why}")
            raise typer.Exit(2) from None
        if thread is None and not sources:
            raise ConfigError("give --sources DIR or --thread ID")
        if thread is not None:
            report = verify_thread(text, open_client(db).artifacts, thread)
        else:
            report = verify_folders(text, sources or [])
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        for f in report.failures:
            line = f"line {f.line}: " if f.line else ""
            out.print(f"[red]FAIL[/red] {line}{escape(f.message)}")
        verdict = (
            "[green]ok[/green]" if report.ok else f"[red]{len(report.failures)} failure(s)[/red]"
        )
        out.print(f"{verdict}: {len(report.citations)} citations, {report.paragraphs} paragraphs")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def diagram(
    workflow: Annotated[str, typer.Argument(help="Workflow name, e.g. brief.")],
    png: Annotated[Path | None, typer.Option(help="Also write a PNG here (offline).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the workflow's state machine as Mermaid; `--png FILE` renders it offline."""
    from lockstep.graphs import workflow_module
    from lockstep.machine import to_mermaid, write_png

    with error_boundary():
        machine = workflow_module(workflow).MACHINE
        if png is not None:
            write_png(machine, png)
            err.print(f"wrote {escape(str(png))}")
        if as_json:
            doc = {"workflow": workflow, "mermaid": to_mermaid(machine), "png": png and str(png)}
            out.print_json(json.dumps(doc))
            return
        out.print(to_mermaid(machine), markup=False, end="")
