"""What every command shares: options, consoles, the error boundary, how runs are reported.

Command modules import from here and never from each other (the Temporal engine's bodies in
`lockstep.cli.temporal`, which define no commands, are the one shared addition);
`lockstep.cli` registers them.
Imports of the client and the queue are deferred to call time so that `lockstep --help`
does not pay for LangGraph.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lockstep.errors import LockstepError

if TYPE_CHECKING:
    from lockstep.client import Lockstep, ThreadStatus

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $LOCKSTEP_DATABASE_URL or sqlite:///.lockstep/lockstep.db).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ResearchModeOption = Annotated[
    str,
    typer.Option(
        "--research-mode",
        help="locked: the fixed ranking step; agent: a tool-using agent over the same corpus.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Queue configuration (default: $LOCKSTEP_CONFIG or ./lockstep.yaml)."
    ),
]
EXIT_BY_STATUS = {"rejected": 3, "cancelled": 4, "abandoned": 4, "failed": 1}


@contextmanager
def error_boundary(thread_id: str | None = None) -> Iterator[None]:
    """One boundary for every command: lockstep errors become one line and an exit code."""
    try:
        yield
    except LockstepError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        hint = f"; continue with: lockstep resume {escape(thread_id)}" if thread_id else ""
        err.print(f"[yellow]interrupted[/yellow]{hint}")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        hint = (
            f"; the thread is saved, retry with: lockstep resume {escape(thread_id)}"
            if thread_id
            else ""
        )
        err.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))}{hint}")
        raise typer.Exit(1) from None


def open_client(db: str | None) -> Lockstep:
    from lockstep.client import Lockstep

    return Lockstep(db)


def queue_client(db: str | None, config: Path | None) -> Lockstep:
    """A client whose `queue` reads the given configuration file."""
    from lockstep.client import Lockstep

    return Lockstep(db, config=config)


def who(by: str | None) -> str:
    """Who acts, for the audit log: the option, else the login name."""
    return by or os.environ.get("USER") or "unknown"


class Progress:
    """Prints each transition as the run takes it, with a spinner on the current step."""

    def __init__(self) -> None:
        self.status = err.status("starting…")

    def __enter__(self) -> Progress:
        self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.status.stop()

    def __call__(self, node: str, update: Mapping[str, Any]) -> None:
        for t in update.get("transitions") or []:
            err.print(
                f"  [dim]{escape(t['from'])}[/dim] --{escape(t['event'])}--> "
                f"[bold]{escape(t['to'])}[/bold]"
            )
            self.status.update(f"{escape(t['to'])}…")


def print_status(st: ThreadStatus) -> None:
    out.print(f"thread  {escape(st.thread_id)}")
    out.print(f"status  [bold]{escape(st.status)}[/bold]")
    if st.rejection_reason:
        out.print(f"reason  {escape(st.rejection_reason)}")
    if st.error:
        out.print(f"error   {escape(st.error)}")
    if st.gate:
        print_gate(st)


def path_text(transitions: list[dict[str, str]]) -> str:
    """`requested → researching ×3 → drafting ×9 → ...`: the states visited, runs collapsed."""
    states: list[list[Any]] = []
    for t in transitions:
        if not states:
            states.append([t["from"], 1])
        if states[-1][0] == t["to"]:
            states[-1][1] += 1
        else:
            states.append([t["to"], 1])
    return escape(" → ".join(f"{s} ×{n}" if n > 1 else s for s, n in states))


def print_gate(st: ThreadStatus) -> None:
    gate = st.gate or {}
    out.print(
        f"gate    [yellow]{escape(gate['gate'])}[/yellow] — {escape(gate.get('description', ''))}"
    )
    out.print(f"        decisions: {escape(', '.join(gate['decisions']))}")
    if gate.get("deadline"):
        out.print(f"        deadline:  {gate['deadline']}")
    out.print(
        f"        continue with: lockstep resume {escape(st.thread_id)} --decision D --by NAME"
    )


def exit_for(st: ThreadStatus) -> None:
    """Exit with the code of the thread's final status (0 while it runs or waits)."""
    code = EXIT_BY_STATUS.get(st.status, 0)
    if code:
        raise typer.Exit(code)


def training_inputs(request: Path | None, **given: Any) -> dict[str, Any]:
    """A training request: the YAML file's fields, overridden by the options given."""
    from lockstep.errors import RequestError
    from lockstep.machine.spec import load_yaml

    inputs: dict[str, Any] = {}
    if request is not None:
        try:
            text = request.read_text(encoding="utf-8")
        except OSError as exc:
            raise RequestError(f"cannot read request {request}: {exc.strerror}") from None
        loaded = load_yaml(text, str(request))
        if not isinstance(loaded, Mapping):
            raise RequestError(f"{request}: a request must be a mapping of fields")
        inputs = {k: v for k, v in loaded.items() if k != "__line__"}
    inputs.update({k: v for k, v in given.items() if v is not None})
    if "deadline" in inputs:
        inputs["deadline"] = str(inputs["deadline"])
    return inputs
