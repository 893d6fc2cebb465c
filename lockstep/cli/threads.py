"""Read threads: `status`, `history`, `show`, `audit`, `gates`, `sweep`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lockstep.cli.common import (
    DbOption,
    JsonOption,
    data_table,
    error_boundary,
    open_client,
    out,
    print_status,
)
from lockstep.errors import ConfigError
from lockstep.ids import confined

app = typer.Typer()


@app.command()
def status(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Current state, pending gate, counters and last transitions of a thread."""
    with error_boundary(thread_id):
        client = open_client(db, create=False)
        st = client.status(thread_id)
    if as_json:
        out.print_json(json.dumps({**st.to_dict(), "storage": client.db.location.storage()}))
        return
    print_status(st)
    if st.interrupted:
        out.print(
            f"        interrupted in {escape(', '.join(st.next))}: "
            f"lockstep resume {escape(thread_id)}"
        )
    if st.counters:
        out.print("counters " + ", ".join(f"{k}={v}" for k, v in sorted(st.counters.items())))
    if st.usage:
        steps = ", ".join(
            f"{k} {v.get('input_tokens', 0)}+{v.get('output_tokens', 0)}"
            f" ({v.get('calls', 0)} calls)"
            for k, v in sorted(st.usage.items())
        )
        out.print(f"tokens   {st.total_tokens} in+out: {steps}")
    if st.transitions:
        table = data_table(
            "at", "from", "event", "to", title="last transitions", title_justify="left"
        )
        for t in st.transitions:
            table.add_row(t["at"][:19], t["from"], t["event"], t["to"])
        out.print(table)


@app.command()
def history(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    limit: Annotated[int, typer.Option(min=1, help="Checkpoints per page.")] = 50,
    before: Annotated[
        str | None,
        typer.Option(help="Show the page older than this checkpoint (the last one listed)."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """A thread's checkpoints, newest first, a page at a time."""
    with error_boundary(thread_id):
        rows = open_client(db, create=False).history(thread_id, limit=limit, before=before)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = data_table("step", "state", "next", "checkpoint", "created")
    for r in rows:
        table.add_row(
            str(r["step"]),
            (r["status"] or "-") + (" (superseded)" if r.get("superseded") else ""),
            ",".join(r["next"]) or "-",
            r["checkpoint_id"],
            (r["created_at"] or "")[:19],
        )
    out.print(table)
    if len(rows) == limit:
        out.print(f"older: lockstep history {thread_id} --before {rows[-1]['checkpoint_id']}")


@app.command()
def show(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    artifact: Annotated[
        str, typer.Option(help="Artifact name: final, draft, outline, ...")
    ] = "final",
    as_json: JsonOption = False,
    open_: Annotated[
        bool,
        typer.Option("--open", help="Unpack a zip artifact (the SCORM package) to preview it."),
    ] = False,
    to: Annotated[
        Path | None, typer.Option(help="Folder for --open (default .lockstep/preview/THREAD).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Print a thread's artifact (the final brief by default)."""
    from lockstep.research.citations import parse_citations

    with error_boundary(thread_id):
        meta, content = open_client(db, create=False).artifact(thread_id, artifact)
        if open_:
            from lockstep.training.preview import build_preview  # the course beside an LMS

            folder = to or confined(Path(".lockstep/preview"), thread_id)
            out.print(escape(str(build_preview(content, folder))))
            return
        if meta.format == "zip":
            raise ConfigError(f"{meta.name} is a zip archive: preview it with --open")
    text = content.decode("utf-8", errors="replace")
    if not as_json:
        out.print(text, markup=False)
        return
    doc: dict[str, Any] = {"content": text, "version": meta.version, "sha256": meta.sha256}
    if meta.format == "markdown":
        citations, _ = parse_citations(text)
        doc["citations"] = [{"n": c.label, "source": c.source, "quote": c.quote} for c in citations]
    out.print_json(json.dumps(doc))


@app.command()
def audit(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The thread's append-only audit log: transitions, decisions, artifacts, operator actions."""
    with error_boundary(thread_id):
        rows = open_client(db, create=False).audit(thread_id)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = data_table("seq", "at", "kind", "actor", "detail")
    for r in rows:
        d = r["detail"]
        if r["kind"] == "transition":
            text = f"{d['from']} --{d['event']}--> {d['to']}"
        elif r["kind"] == "artifact":
            text = f"{d['name']}@{d['version']} {d['status']} {d['sha256'][:12]}"
        else:
            text = json.dumps(d, ensure_ascii=False)
        table.add_row(str(r["seq"]), r["at"][:19], r["kind"], r["actor"], text)
    out.print(table)


@app.command()
def gates(
    overdue: Annotated[bool, typer.Option(help="Only gates past their deadline.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Every thread waiting at a human gate, across workflows, with its deadline."""
    with error_boundary():
        waiting = open_client(db).gates(overdue=overdue)
    if as_json:
        out.print_json(json.dumps(waiting, default=str))
        return
    table = data_table("thread", "workflow", "gate", "decisions", "deadline", "overdue")
    for g in waiting:
        table.add_row(
            g["thread_id"],
            g["workflow"],
            g["gate"],
            ", ".join(g["decisions"]),
            (g.get("deadline") or "")[:19],
            "yes" if g["overdue"] else "",
        )
    out.print(table)


@app.command()
def sweep(
    by: Annotated[str, typer.Option(help="Who the timeouts are recorded as.")] = "sweeper",
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Answer every overdue gate with `timeout` (idempotent: gates answered first are skipped)."""
    with error_boundary():
        outcomes = open_client(db).sweep(by=by)
    if as_json:
        out.print_json(json.dumps(outcomes))
        return
    for o in outcomes:
        detail = o.get("status") or o.get("reason", "")
        out.print(
            f"{escape(o['thread_id'])}  {escape(o['gate'])}  {o['outcome']}  {escape(detail)}"
        )
    out.print(f"{sum(o['outcome'] == 'timed_out' for o in outcomes)} gate(s) timed out")
