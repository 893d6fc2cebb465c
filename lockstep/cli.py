"""The `lockstep` command line: a thin shell over the `Lockstep` client.

Exit codes: 0 completed or waiting at a gate (and `verify` passing), 1 an error or failed
verification, 2 unknown thread or unreadable input, 3 rejected request, 4 cancelled or
abandoned. Errors print one line, never a traceback (`LOCKSTEP_DEBUG=1` shows it).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree
from typer.core import TyperGroup

from lockstep.client import Lockstep, ThreadStatus
from lockstep.errors import ConfigError, LockstepError

__all__ = ["app", "main"]

app = typer.Typer(
    name="lockstep",
    help="Run LangGraph workflows as checkpointed, guarded, resumable state machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
run_app = typer.Typer(help="Start a workflow run.", no_args_is_help=True)
app.add_typer(run_app, name="run")

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
EXIT_BY_STATUS = {"rejected": 3, "cancelled": 4, "abandoned": 4, "failed": 1}


@contextmanager
def _errors(thread_id: str | None = None) -> Iterator[None]:
    """One boundary for every command: lockstep errors become one line and an exit code."""
    try:
        yield
    except LockstepError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        hint = f"; continue with: lockstep resume {thread_id}" if thread_id else ""
        err.print(f"[yellow]interrupted[/yellow]{hint}")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get("LOCKSTEP_DEBUG"):
            raise
        hint = (
            f"; the thread is saved, retry with: lockstep resume {thread_id}" if thread_id else ""
        )
        err.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))}{hint}")
        raise typer.Exit(1) from None


def _client(db: str | None) -> Lockstep:
    return Lockstep(db)


class _Progress:
    """Prints each transition as the run takes it, with a spinner on the current step."""

    def __init__(self) -> None:
        self.status = err.status("starting…")

    def __enter__(self) -> _Progress:
        self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.status.stop()

    def __call__(self, node: str, update: Mapping[str, Any]) -> None:
        for t in update.get("transitions") or []:
            err.print(f"  [dim]{t['from']}[/dim] --{t['event']}--> [bold]{t['to']}[/bold]")
            self.status.update(f"{t['to']}…")


def _report(st: ThreadStatus) -> None:
    out.print(f"thread  {st.thread_id}")
    out.print(f"status  [bold]{st.status}[/bold]")
    if st.rejection_reason:
        out.print(f"reason  {escape(st.rejection_reason)}")
    if st.error:
        out.print(f"error   {escape(st.error)}")
    if st.gate:
        _print_gate(st)


def _path(transitions: list[dict[str, str]]) -> str:
    """`requested → researching ×3 → drafting ×9 → ...`: the states visited, runs collapsed."""
    states: list[list[Any]] = []
    for t in transitions:
        if not states:
            states.append([t["from"], 1])
        if states[-1][0] == t["to"]:
            states[-1][1] += 1
        else:
            states.append([t["to"], 1])
    return " → ".join(f"{s} ×{n}" if n > 1 else s for s, n in states)


def _print_gate(st: ThreadStatus) -> None:
    gate = st.gate or {}
    out.print(f"gate    [yellow]{gate['gate']}[/yellow] — {escape(gate.get('description', ''))}")
    out.print(f"        decisions: {', '.join(gate['decisions'])}")
    if gate.get("deadline"):
        out.print(f"        deadline:  {gate['deadline']}")
    out.print(f"        continue with: lockstep resume {st.thread_id} --decision D --by NAME")


def _finish(st: ThreadStatus) -> None:
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


@run_app.command("brief")
def run_brief(
    topic: Annotated[str, typer.Option(help="The question the brief answers.")],
    sources: Annotated[list[Path], typer.Option(help="Folder of .md/.txt/.html sources.")],
    research_mode: ResearchModeOption = "locked",
    thread_id: Annotated[str | None, typer.Option(help="Thread ID (default: random).")] = None,
    db: DbOption = None,
) -> None:
    """Research and write a policy brief; stops at completion, rejection or a human gate."""
    thread_id = thread_id or uuid.uuid4().hex
    with _errors(thread_id):
        client = _client(db)
        err.print(f"thread {thread_id}")
        with _Progress() as progress:
            st = client.run(
                "brief",
                topic=topic,
                sources=[str(s) for s in sources],
                research_mode=research_mode,
                thread_id=thread_id,
                on_update=progress,
            )
        _report(st)
        out.print(f"path    {_path(client.transitions(thread_id))}")
    _finish(st)


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
    db: DbOption = None,
) -> None:
    """Design an annual compliance course; stops at each approval gate."""
    thread_id = thread_id or uuid.uuid4().hex
    with _errors(thread_id):
        inputs = training_inputs(
            request,
            topic=topic,
            sources=[str(s) for s in sources] if sources else None,
            audience=audience,
            duration=duration,
            deadline=deadline,
            language=language,
        )
        client = _client(db)
        err.print(f"thread {thread_id}")
        with _Progress() as progress:
            st = client.run("training", thread_id=thread_id, on_update=progress, **inputs)
        _report(st)
        out.print(f"path    {_path(client.transitions(thread_id))}")
    _finish(st)


@app.command()
def resume(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    decision: Annotated[str | None, typer.Option(help="Gate decision.")] = None,
    comment: Annotated[str | None, typer.Option(help="Comment for the decision.")] = None,
    by: Annotated[str | None, typer.Option(help="Who decides (for the audit log).")] = None,
    sources: Annotated[Path | None, typer.Option(help="Sources folder to add.")] = None,
    db: DbOption = None,
) -> None:
    """Continue a thread from its last checkpoint (a gate decision, or after a crash)."""
    with _errors(thread_id):
        client = _client(db)
        extra: dict[str, Any] = {"sources": str(sources)} if sources else {}
        who = by or os.environ.get("USER")
        job = client.queue.continue_thread(
            client, thread_id, decision, comment=comment, by=who, **extra
        )
        if job is not None:
            out.print(f"job     {job.id} ({job.status}): the continuation runs on a worker")
            out.print(f"        follow it with: lockstep job {job.id}")
            return
        with _Progress() as progress:
            st = client.resume(
                thread_id,
                decision,
                comment=comment,
                by=who,
                on_update=progress,
                **extra,
            )
        _report(st)
        out.print(f"path    {_path(client.transitions(thread_id))}")
    _finish(st)


@app.command()
def status(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Current state, pending gate, counters and last transitions of a thread."""
    with _errors(thread_id):
        st = _client(db).status(thread_id)
    if as_json:
        out.print_json(json.dumps(st.to_dict()))
        return
    _report(st)
    if st.interrupted:
        out.print(f"        interrupted in {', '.join(st.next)}: lockstep resume {thread_id}")
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
        table = Table("at", "from", "event", "to", title="last transitions", title_justify="left")
        for t in st.transitions:
            table.add_row(t["at"][:19], t["from"], t["event"], t["to"])
        out.print(table)


@app.command()
def history(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Every checkpoint of a thread, newest first."""
    with _errors(thread_id):
        rows = _client(db).history(thread_id)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("step", "state", "next", "checkpoint", "created")
    for r in rows:
        table.add_row(
            str(r["step"]),
            (r["status"] or "-") + (" (superseded)" if r.get("superseded") else ""),
            ",".join(r["next"]) or "-",
            r["checkpoint_id"],
            (r["created_at"] or "")[:19],
        )
    out.print(table)


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

    with _errors(thread_id):
        meta, content = _client(db).artifact(thread_id, artifact)
        if open_:
            out.print(_preview(content, to or Path(".lockstep/preview") / thread_id))
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


def _preview(content: bytes, folder: Path) -> Path:
    """Unpack a package into an empty `folder` (refusing paths that escape it); the first
    page to open."""
    import io
    import zipfile

    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"preview folder {folder} is not empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ConfigError("this artifact is not a zip archive") from None
    root = folder.resolve()
    for name in archive.namelist():
        if not (root / name).resolve().is_relative_to(root):
            raise ConfigError(f"archive entry {name!r} would land outside {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    archive.extractall(folder)  # every entry was checked above
    pages = sorted(n for n in archive.namelist() if n.endswith(".html"))
    return folder / (pages[0] if pages else "")


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

    with _errors():
        try:
            text = draft.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]error:[/red] cannot read {draft}: {getattr(exc, 'strerror', exc)}")
            raise typer.Exit(2) from None
        if thread is None and not sources:
            raise ConfigError("give --sources DIR or --thread ID")
        if thread is not None:
            report = verify_thread(text, _client(db).artifacts, thread)
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
) -> None:
    """Print the workflow's state machine as Mermaid; `--png FILE` renders it offline."""
    from lockstep.graphs import workflow_module
    from lockstep.machine import to_mermaid, write_png

    with _errors():
        machine = workflow_module(workflow).MACHINE
        out.print(to_mermaid(machine), markup=False, end="")
        if png is not None:
            write_png(machine, png)
            err.print(f"wrote {png}")


# -- artifacts, audit, recovery and retention (issue 5) ------------------------------------


class _ArtifactsGroup(TyperGroup):
    """`lockstep artifacts THREAD` keeps working beside `artifacts show|diff|lineage|export`:
    a first argument that is not a subcommand is the thread of the default `tree` command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["tree", *args]
        return super().parse_args(ctx, args)


artifacts_app = typer.Typer(
    cls=_ArtifactsGroup,
    help="A thread's artifacts as a tree (`artifacts THREAD`), or show, diff, lineage, export.",
    no_args_is_help=True,
)
app.add_typer(artifacts_app, name="artifacts")


def _who(by: str | None) -> str:
    return by or os.environ.get("USER") or "unknown"


@artifacts_app.command("tree")
def artifacts_tree(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The thread's artifacts as a tree (request → sources → outline → draft → verification →
    draft v2 → final): each under the newest of its inputs and its own previous version."""
    with _errors(thread_id):
        items = _client(db).artifacts_of(thread_id)
    if as_json:
        out.print_json(json.dumps([a.to_dict() for a in items]))
        return
    order = {(a.id, a.version): i for i, a in enumerate(items)}
    names = {(a.id, a.version): f"{a.name}@{a.version}" for a in items}
    children: dict[tuple[str, int] | None, list[Any]] = {}
    primary: dict[tuple[str, int], tuple[str, int] | None] = {}
    for a in items:
        sources = [(r["id"], r["version"]) for r in a.inputs]
        if a.parent_version is not None:
            sources.append((a.id, a.parent_version))
        known = [p for p in sources if p in order]
        key = max(known, key=order.__getitem__) if known else None
        primary[(a.id, a.version)] = key
        children.setdefault(key, []).append(a)

    def label(a: Any) -> str:
        main = primary[(a.id, a.version)]
        extra = [
            names[(r["id"], r["version"])]
            for r in a.inputs
            if (r["id"], r["version"]) in names and (r["id"], r["version"]) != main
        ]
        shown = ", ".join(extra[:3]) + (f" +{len(extra) - 3} more" if len(extra) > 3 else "")
        status = "" if a.status == "complete" else f" [yellow]{a.status}[/yellow]"
        also = f" [dim](also from {shown})[/dim]" if extra else ""
        return (
            f"[bold]{a.name}@{a.version}[/bold]{status}  {a.format} {a.size} B "
            f"{a.sha256[:12]}  {a.step}  [dim]{a.id}[/dim]{also}"
        )

    tree = Tree(f"thread {escape(thread_id)}")

    def add(node: Tree, key: tuple[str, int] | None) -> None:
        for a in children.get(key, []):
            add(node.add(label(a)), (a.id, a.version))

    add(tree, None)
    out.print(tree)


@artifacts_app.command("show")
def artifacts_show(
    spec: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Print one artifact version's content (metadata with --json)."""
    with _errors():
        meta, content = _client(db).artifact_content(spec)
    if as_json:
        doc = {**meta.to_dict(), "content": content.decode("utf-8", errors="replace")}
        out.print_json(json.dumps(doc))
        return
    out.print(content.decode("utf-8", errors="replace"), markup=False, end="")


@artifacts_app.command("diff")
def artifacts_diff(
    old: Annotated[str, typer.Argument(metavar="ID@V1")],
    new: Annotated[str, typer.Argument(metavar="ID@V2")],
    db: DbOption = None,
) -> None:
    """Unified diff of two versions (text), or a key-level diff (JSON)."""
    with _errors():
        text = _client(db).artifact_diff(old, new)
    out.print(text or "(identical)", markup=False, end="" if text else "\n")


@artifacts_app.command("lineage")
def artifacts_lineage(
    spec: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ancestors (inputs, earlier versions) and descendants of an artifact version."""
    with _errors():
        doc = _client(db).lineage(spec)
    if as_json:
        out.print_json(json.dumps(doc))
        return
    a = doc["artifact"]
    out.print(f"[bold]{a['name']}@{a['version']}[/bold] ({a['id']}) {a['status']}")
    for title in ("ancestors", "descendants"):
        out.print(f"{title}:")
        for x in doc[title] or []:
            out.print(f"  {x['name']}@{x['version']}  {x['step']}  {x['status']}  {x['id']}")
        if not doc[title]:
            out.print("  (none)")


@artifacts_app.command("export")
def artifacts_export(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    directory: Annotated[Path, typer.Argument(metavar="DIR")],
    db: DbOption = None,
) -> None:
    """Write every artifact version as a file plus manifest.json (metadata and sha256)."""
    with _errors(thread_id):
        manifest = _client(db).export(thread_id, directory)
    out.print(f"exported {len(manifest['artifacts'])} artifact versions to {directory}")


@artifacts_app.command("verify-export")
def artifacts_verify_export(directory: Annotated[Path, typer.Argument(metavar="DIR")]) -> None:
    """Re-hash an export's files against its manifest.json (exit 1 on any mismatch)."""
    with _errors():
        problems = Lockstep.verify_export(directory)
    for p in problems:
        out.print(f"[red]FAIL[/red] {escape(p)}")
    out.print(
        "ok: every file matches its sha256" if not problems else f"{len(problems)} problem(s)"
    )
    raise typer.Exit(1 if problems else 0)


@app.command()
def audit(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The thread's append-only audit log: transitions, decisions, artifacts, operator actions."""
    with _errors(thread_id):
        rows = _client(db).audit(thread_id)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("seq", "at", "kind", "actor", "detail")
    for r in rows:
        d = r["detail"]
        if r["kind"] == "transition":
            text = f"{d['from']} --{d['event']}--> {d['to']}"
        elif r["kind"] == "artifact":
            text = f"{d['name']}@{d['version']} {d['status']} {d['sha256'][:12]}"
        else:
            text = json.dumps(d, ensure_ascii=False)
        table.add_row(str(r["seq"]), r["at"][:19], r["kind"], r["actor"], escape(text))
    out.print(table)


@app.command()
def rollback(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    to: Annotated[str | None, typer.Option("--to", help="Checkpoint id to fork from.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Fork from the latest entry into this state.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (for the audit log).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    db: DbOption = None,
) -> None:
    """Continue from an earlier checkpoint as a fork; later history is kept, marked superseded."""
    with _errors(thread_id):
        st = _client(db).rollback(thread_id, to=to, state=state, reason=reason, by=_who(by))
        _report(st)
        out.print(f"        continue with: lockstep resume {thread_id}")


@app.command()
def escalate(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    db: DbOption = None,
) -> None:
    """Halt the thread and route it to the workflow's human review gate now."""
    with _errors(thread_id):
        st = _client(db).escalate(thread_id, reason=reason, by=_who(by))
        _report(st)


@app.command()
def abandon(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
    by: Annotated[str | None, typer.Option(help="Who (for the audit log).")] = None,
    db: DbOption = None,
) -> None:
    """Mark the thread abandoned, saving its work in progress as incomplete artifacts."""
    with _errors(thread_id):
        st = _client(db).abandon(thread_id, reason=reason, by=_who(by))
        _report(st)
    _finish(st)


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
    from lockstep.client import parse_age

    with _errors():
        report = _client(db).prune(
            parse_age(older_than),
            keep_latest=keep_latest,
            dry_run=dry_run,
            artifacts=artifacts,
            by=_who(None),
        )
    if as_json:
        out.print_json(json.dumps(report))
        return
    verb = "would remove" if dry_run else "removed"
    for t in report["threads"]:
        out.print(
            f"{t['thread_id']}: {verb} {t['checkpoints']} checkpoints, {t['artifacts']} artifacts"
        )
    for t in report["skipped"]:
        out.print(f"{t['thread_id']}: skipped ({t['status']})")
    out.print(f"{verb} {report['blobs']} unreferenced blobs")


@app.command()
def gates(
    overdue: Annotated[bool, typer.Option(help="Only gates past their deadline.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Every thread waiting at a human gate, across workflows, with its deadline."""
    with _errors():
        waiting = _client(db).gates(overdue=overdue)
    if as_json:
        out.print_json(json.dumps(waiting, default=str))
        return
    table = Table("thread", "workflow", "gate", "decisions", "deadline", "overdue")
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
    with _errors():
        outcomes = _client(db).sweep(by=by)
    if as_json:
        out.print_json(json.dumps(outcomes))
        return
    for o in outcomes:
        detail = o.get("status") or o.get("reason", "")
        out.print(f"{o['thread_id']}  {o['gate']}  {o['outcome']}  {escape(detail)}")
    out.print(f"{sum(o['outcome'] == 'timed_out' for o in outcomes)} gate(s) timed out")


keys_app = typer.Typer(help="API keys for `lockstep serve` (only their hashes are stored).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="Who the key belongs to.")],
    roles: Annotated[
        str, typer.Option(help="Comma-separated: submitter, approver, operator, admin.")
    ] = "submitter",
    db: DbOption = None,
) -> None:
    """Create a key and print it once."""
    from lockstep.db import Database
    from lockstep.server.auth import create_key

    with _errors():
        database = Database(db)
        key_id, key = create_key(database, user, [r.strip() for r in roles.split(",") if r.strip()])
        database.close()
    err.print(f"key {key_id} for {user} ({roles}); it is shown only now:")
    out.print(key)


@keys_app.command("list")
def keys_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every key: id, user, roles, created, revoked."""
    from lockstep.db import Database
    from lockstep.server.auth import list_keys

    with _errors():
        database = Database(db)
        rows = list_keys(database)
        database.close()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "user", "roles", "created", "revoked")
    for r in rows:
        table.add_row(
            r["id"], r["user_name"], r["roles"], r["created_at"][:19], (r["revoked_at"] or "")[:19]
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID")], db: DbOption = None
) -> None:
    """Revoke a key: it stops working at once."""
    from lockstep.db import Database
    from lockstep.server.auth import revoke_key

    with _errors():
        database = Database(db)
        revoke_key(database, key_id)
        database.close()
    out.print(f"revoked {key_id}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Everyone is the local admin (loopback only).")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Let browser pages from this origin call the API (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Queue configuration (default: $LOCKSTEP_CONFIG or ./lockstep.yaml)."
        ),
    ] = None,
    sources_root: Annotated[
        list[Path] | None,
        typer.Option(
            help="Only folders under this one may be given as sources (repeatable; sets "
            "LOCKSTEP_SOURCES_ROOTS, which workers should share)."
        ),
    ] = None,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not run the trigger scheduler in-process.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve the REST and jobs API, metrics, a LangServe endpoint per workflow (`/docs` lists
    them), the web page at `/` and signed webhooks at /hooks/NAME. Jobs are run by `lockstep
    worker` processes, not the server; the trigger scheduler runs here unless --no-scheduler."""
    import uvicorn

    from lockstep.server import create_app

    with _errors():
        if no_auth and host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"--no-auth binds only to loopback, not {host!r}")
        for root in sources_root or ():
            if not root.is_dir():
                raise ConfigError(f"--sources-root {root} is not a folder")
        if sources_root:
            os.environ["LOCKSTEP_SOURCES_ROOTS"] = os.pathsep.join(str(r) for r in sources_root)
        application = create_app(
            db,
            auth=not no_auth,
            cors_origins=cors_origin or (),
            config=config,
            scheduler=not no_scheduler,
        )
        uvicorn.run(application, host=host, port=port, log_level="warning")


def main() -> None:
    app(prog_name="lockstep")


from lockstep import cli_jobs, cli_triggers  # noqa: E402, F401 - register their commands

if __name__ == "__main__":  # pragma: no cover
    main()
