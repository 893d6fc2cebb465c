"""The `lockstep` command line: a thin shell over the `Lockstep` client.

Exit codes: 0 completed or waiting at a gate (and `verify` passing), 1 an error or failed
verification, 2 unknown thread or unreadable input, 3 rejected request, 4 cancelled or
abandoned. Errors print one line, never a traceback (`LOCKSTEP_DEBUG=1` shows it).

Each command family lives in its own module with its own `typer.Typer`; they are
registered here, in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.core

from lockstep.cli import (
    artifacts,
    check,
    doctor,
    jobs,
    keys,
    recovery,
    runs,
    serve,
    threads,
    tools,
    triggers,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="lockstep",
    help="Run LangGraph workflows as checkpointed, guarded, resumable state machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _flag_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """No `<bool>` beside a flag in `--help`: a flag takes no value. (typer 0.29 prints the
    type of every option and offers no setting for it, hence this one-method override.)"""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"lockstep {version('lockstep')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run LangGraph workflows as checkpointed, guarded, resumable state machines."""


for family in (runs, threads, tools, recovery, jobs, triggers, serve, check, doctor):
    app.add_typer(family.app)
app.add_typer(artifacts.artifacts_app, name="artifacts")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(jobs.submit_app, name="submit")
app.add_typer(jobs.dlq_app, name="dlq")
app.add_typer(triggers.schedules_app, name="schedules")


def main() -> None:
    app(prog_name="lockstep")
