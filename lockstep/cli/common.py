"""What every command shares: options, consoles, the error boundary, how runs are reported.

Command modules import from here and never from each other (the Temporal engine's bodies in
`lockstep.cli.temporal`, which define no commands, are the one shared addition);
`lockstep.cli` registers them.
Imports of the client and the queue are deferred to call time so that `lockstep --help`
does not pay for LangGraph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

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


class PlainTable(Table):
    """A rich table for data: every cell is plain text (a thread ID `[/]` is printed as it
    is, never parsed as markup) and long cells fold onto more lines instead of being cut,
    so an ID in a table can always be pasted into the next command."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)


def data_table(*headers: str, **options: Any) -> PlainTable:
    """A `PlainTable` with these column headers."""
    grid = PlainTable(**options)
    for header in headers:
        grid.add_column(header)
    return grid


def setup_logging() -> None:
    """Log lines for long-running commands (`worker`, `scheduler`): lockstep's own at INFO
    (one per job event), everything else at WARNING — bm25s sets its logger to DEBUG at import,
    so the threshold sits on the handler, not on the loggers."""
    import logging

    class _Threshold(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            mine = record.name == "lockstep" or record.name.startswith("lockstep.")
            return record.levelno >= (logging.INFO if mine else logging.WARNING)

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(_Threshold())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def open_client(db: str | None, *, create: bool = True) -> Lockstep:
    """A client on `db`; `create=False` (read-only commands) refuses a missing SQLite file
    instead of creating it and its folders."""
    if not create:
        from lockstep.db import require_database

        require_database(db)
    return queue_client(db, None)


def queue_client(db: str | None, config: Path | None) -> Lockstep:
    """A client whose `queue` reads the given configuration file (else lockstep.yaml)."""
    import lockstep.queue
    import lockstep.triggers  # noqa: F401 - the hooks the queue runs at job ends
    from lockstep.client import Lockstep

    return Lockstep(db, config=config)


def report(st: ThreadStatus, client: Lockstep, as_json: bool) -> None:
    """Where a run, resume or operator action left the thread: a status block and the path
    taken, or the same as one JSON document."""
    transitions = client.transitions(st.thread_id)
    if as_json:
        out.print_json(json.dumps({**st.to_dict(), "path": transitions}, default=str))
        return
    print_status(st)
    out.print(f"path    {path_text(transitions)}")


def who(by: str | None) -> str:
    """Who acts, for the audit log: the option, else the login name."""
    return by or os.environ.get("USER") or "unknown"


class Progress:
    """Prints each transition as the run takes it, under a live line naming the current step
    and the time spent in it (a model call can take minutes). Quiet with `--json`."""

    def __init__(self, *, quiet: bool = False) -> None:
        from rich.progress import Progress as Live
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.live = Live(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet,
        )
        self.task = self.live.add_task("starting…", total=None)

    def __enter__(self) -> Progress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __call__(self, node: str, update: Mapping[str, Any]) -> None:
        for t in update.get("transitions") or []:
            if not self.quiet:
                err.print(
                    f"  [dim]{escape(t['from'])}[/dim] --{escape(t['event'])}--> "
                    f"[bold]{escape(t['to'])}[/bold]"
                )
            self.live.reset(self.task, description=f"{escape(t['to'])}…")


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
    """`requested → researching ×3 → outlining → drafting ×8 → ...`: the states visited, runs
    collapsed."""
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
    """The gate, why the thread is there, what it asks the person to review, and how to
    answer."""
    gate = st.gate or {}
    out.print(
        f"gate    [yellow]{escape(gate['gate'])}[/yellow] — {escape(gate.get('description', ''))}"
    )
    if gate.get("reason"):
        out.print(f"        why:       {escape(gate['reason'])}")
    for line in review_lines(gate.get("review") or {}):
        out.print(f"        {escape(line)}")
    out.print(f"        decisions: {escape(', '.join(gate['decisions']))}")
    if gate.get("deadline"):
        out.print(f"        deadline:  {escape(str(gate['deadline']))}")
    out.print(
        f"        continue with: lockstep resume {escape(st.thread_id)} --decision D --by NAME"
    )


def review_lines(review: Mapping[str, Any], limit: int = 12) -> list[str]:
    """A gate's review material as short lines: scalars as `key: value`, lists as bullets
    (their `text` or `title` when items are mappings), artifact references left out (they
    are one `lockstep show` away)."""
    lines: list[str] = []
    for key, value in review.items():
        if value in (None, "", [], {}) or _is_ref(value):
            continue
        if isinstance(value, list):
            lines.append(f"{key}:")
            for item in value[:limit]:
                text = item.get("text") or item.get("title") if isinstance(item, Mapping) else None
                lines.append(f"  - {text if text is not None else item}")
            if len(value) > limit:
                lines.append(f"  … {len(value) - limit} more (--json shows all)")
        elif not isinstance(value, Mapping):
            lines.append(f"{key}: {value}")
    return lines


def _is_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and {"id", "version", "sha256"} <= set(value)


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
