"""`lockstep artifacts`: a thread's artifact tree, show, diff, lineage, export, verify-export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree
from typer.core import TyperGroup

from lockstep.cli.common import (
    DbOption,
    JsonOption,
    error_boundary,
    open_client,
    out,
)


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


@artifacts_app.command("tree")
def artifacts_tree(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The thread's artifacts as a tree (request → sources → outline → draft → verification →
    draft v2 → final): each under the newest of its inputs and its own previous version."""
    with error_boundary(thread_id):
        items = open_client(db, create=False).artifacts_of(thread_id)
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
        status = "" if a.status == "complete" else f" [yellow]{escape(a.status)}[/yellow]"
        also = f" [dim](also from {escape(shown)})[/dim]" if extra else ""
        return (
            f"[bold]{escape(a.name)}@{a.version}[/bold]{status}  {escape(a.format)} {a.size} B "
            f"{a.sha256[:12]}  {escape(a.step)}  [dim]{escape(a.id)}[/dim]{also}"
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
    with error_boundary():
        meta, content = open_client(db, create=False).artifact_content(spec)
    if as_json:
        doc = {**meta.to_dict(), "content": content.decode("utf-8", errors="replace")}
        out.print_json(json.dumps(doc))
        return
    out.print(content.decode("utf-8", errors="replace"), markup=False, end="")


@artifacts_app.command("diff")
def artifacts_diff(
    old: Annotated[str, typer.Argument(metavar="ID@V1")],
    new: Annotated[str, typer.Argument(metavar="ID@V2")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Unified diff of two versions (text), or a key-level diff (JSON)."""
    with error_boundary():
        text = open_client(db, create=False).artifact_diff(old, new)
    if as_json:
        out.print_json(json.dumps({"old": old, "new": new, "identical": not text, "diff": text}))
        return
    out.print(text or "(identical)", markup=False, end="" if text else "\n")


@artifacts_app.command("lineage")
def artifacts_lineage(
    spec: Annotated[str, typer.Argument(metavar="ID[@VERSION]")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ancestors (inputs, earlier versions) and descendants of an artifact version."""
    with error_boundary():
        doc = open_client(db, create=False).lineage(spec)
    if as_json:
        out.print_json(json.dumps(doc))
        return
    a = doc["artifact"]
    out.print(
        f"[bold]{escape(a['name'])}@{a['version']}[/bold] ({escape(a['id'])}) {escape(a['status'])}"
    )
    for title in ("ancestors", "descendants"):
        out.print(f"{title}:")
        for x in doc[title] or []:
            line = f"  {x['name']}@{x['version']}  {x['step']}  {x['status']}  {x['id']}"
            out.print(line, markup=False)
        if not doc[title]:
            out.print("  (none)")


@artifacts_app.command("export")
def artifacts_export(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD")],
    directory: Annotated[Path, typer.Argument(metavar="DIR")],
    db: DbOption = None,
) -> None:
    """Write every artifact version as a file plus manifest.json (metadata and sha256)."""
    with error_boundary(thread_id):
        manifest = open_client(db, create=False).export(thread_id, directory)
    out.print(
        f"exported {len(manifest['artifacts'])} artifact versions to {escape(str(directory))}"
    )


@artifacts_app.command("verify-export")
def artifacts_verify_export(directory: Annotated[Path, typer.Argument(metavar="DIR")]) -> None:
    """Re-hash an export's files against its manifest.json (exit 1 on any mismatch)."""
    with error_boundary():
        from lockstep.artifacts.store import verify_export

        problems = verify_export(directory)
    for p in problems:
        out.print(f"[red]FAIL[/red] {escape(p)}")
    out.print(
        "ok: every file matches its sha256" if not problems else f"{len(problems)} problem(s)"
    )
    raise typer.Exit(1 if problems else 0)
