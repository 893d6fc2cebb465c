"""`lockstep doctor`: where this machine's data and settings come from, and whether each works.

Prints the resolved database (password redacted), blob store, model and configuration file,
each with a health check that writes nothing: a SQLite file that does not exist is reported,
not created; migrations are counted, not applied; the model is constructed, not called.
Exits 1 when any check fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from lockstep.cli.common import ConfigOption, DbOption, JsonOption, out

app = typer.Typer()


def _check(value: str, ok: bool, detail: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, "ok": ok, "detail": detail, **extra}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_database(url: str | None) -> tuple[dict[str, Any], Any]:
    """The database's health and an open connection to it (None when it cannot be opened)."""
    from lockstep.db import connect_postgres, connect_sqlite, parse_url, resolve_url
    from lockstep.errors import LockstepError
    from lockstep.migrations import MIGRATIONS

    try:
        location = parse_url(resolve_url(url))
    except LockstepError as exc:
        return _check(resolve_url(url), False, str(exc)), None
    shown = location.redacted()
    default = url is None and not os.environ.get("LOCKSTEP_DATABASE_URL")
    if default and location.path is not None and not location.path.exists():
        return _check(shown, True, "sqlite, not created yet (the first run makes it)"), None
    try:
        if location.path is not None:
            conn: Any = connect_sqlite(location.path, create=False)
        else:
            conn = connect_postgres(location.url)
    except LockstepError as exc:
        return _check(shown, False, str(exc), dialect=location.dialect), None
    try:
        rows = conn.execute("SELECT max(version) AS v FROM lockstep_migrations").fetchall()
        row = rows[0]
        version = int((row["v"] if isinstance(row, dict) else row[0]) or 0)
    except Exception:
        version = 0
    latest = len(MIGRATIONS)
    if version > latest:
        return (
            _check(
                shown,
                False,
                f"schema version {version} is newer than this lockstep ({latest}): upgrade it",
                dialect=location.dialect,
                schema_version=version,
            ),
            conn,
        )
    pending = latest - version
    detail = f"{location.dialect}, schema version {version}" + (
        f"; {pending} migration(s) apply on the next open" if pending else ""
    )
    return _check(shown, True, detail, dialect=location.dialect, schema_version=version), conn


def check_blobs(url: str | None, conn: Any) -> dict[str, Any]:
    """The blob store: a folder's access, the database table's coverage, or an fsspec URL's
    reachability (a listing, no write)."""
    from lockstep.artifacts.blobs import DATABASE, FsspecBlobStore
    from lockstep.db import parse_url, resolve_url
    from lockstep.errors import LockstepError

    try:
        where = parse_url(resolve_url(url)).blob_url
    except LockstepError as exc:
        return _check("?", False, str(exc))
    if where == DATABASE:
        if conn is None:
            return _check(where, False, "its database cannot be opened", kind="database")
        try:
            rows = conn.execute(
                "SELECT COUNT(DISTINCT a.sha256) AS n FROM lockstep_artifacts a "
                "LEFT JOIN lockstep_blobs b ON b.sha256 = a.sha256 WHERE b.sha256 IS NULL"
            ).fetchall()
        except Exception:
            return _check(where, True, "table lockstep_blobs is made on the next open")
        row = rows[0]
        missing = int(row["n"] if isinstance(row, dict) else row[0])
        detail = "table lockstep_blobs" + (
            f"; {missing} artifact blob(s) not in it yet (copied in when first read on a "
            "machine that still has the old blob folder)"
            if missing
            else ""
        )
        return _check(where, True, detail, kind="database", not_in_table=missing)
    if "://" in where and not where.startswith("file://"):
        try:
            store = FsspecBlobStore(where)
            store.fs.ls(store.root.split("/", 1)[0])
        except LockstepError as exc:
            return _check(where, False, str(exc), kind="fsspec")
        except Exception as exc:
            return _check(where, False, f"unreachable: {_first_line(exc)}", kind="fsspec")
        return _check(where, True, "reachable", kind="fsspec")
    folder = Path(where.removeprefix("file://"))
    if folder.is_dir():
        ok = os.access(folder, os.W_OK | os.X_OK)
        return _check(where, ok, "folder" if ok else "folder is not writable", kind="folder")
    parent = next((p for p in folder.parents if p.exists()), None)
    ok = parent is not None and os.access(parent, os.W_OK | os.X_OK)
    detail = "folder, made on the first write" if ok else f"cannot create it under {parent}"
    return _check(where, ok, detail, kind="folder")


def check_model() -> dict[str, Any]:
    """`LOCKSTEP_MODEL` built into a chat model (keys and packages checked; no call made)."""
    from lockstep.agents.models import get_chat_model

    spec = os.environ.get("LOCKSTEP_MODEL") or "offline"
    try:
        model = get_chat_model(spec)
    except Exception as exc:
        return _check(spec, False, _first_line(exc))
    return _check(spec, True, type(model).__name__)


def check_config(path: Path | None) -> dict[str, Any]:
    """The queue configuration: `--config`, else `$LOCKSTEP_CONFIG`, else `./lockstep.yaml`."""
    from lockstep.errors import LockstepError
    from lockstep.queue.config import DEFAULT_CONFIG, load_config

    explicit = path or os.environ.get("LOCKSTEP_CONFIG")
    shown = str(Path(explicit or DEFAULT_CONFIG).absolute())
    if not explicit and not Path(DEFAULT_CONFIG).exists():
        return _check(shown, True, "not present: built-in defaults")
    try:
        load_config(explicit)
    except LockstepError as exc:
        return _check(shown, False, str(exc))
    return _check(shown, True, "valid")


def diagnose(db: str | None, config: Path | None) -> dict[str, Any]:
    """Every check, by name, plus `healthy`."""
    database, conn = check_database(db)
    try:
        report: dict[str, Any] = {
            "database": database,
            "blob_store": check_blobs(db, conn),
            "model": check_model(),
            "config": check_config(config),
        }
    finally:
        if conn is not None:
            conn.close()
    report["healthy"] = all(check["ok"] for check in report.values())
    return report


@app.command()
def doctor(as_json: JsonOption = False, db: DbOption = None, config: ConfigOption = None) -> None:
    """Where the database, blob store, model and configuration come from, and whether each
    works; creates nothing. Exit 1 when something is unhealthy."""
    report = diagnose(db, config)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        for name, check in report.items():
            if name == "healthy":
                continue
            mark = "[green]ok  [/green]" if check["ok"] else "[red]FAIL[/red]"
            out.print(f"{mark} {name.replace('_', ' '):<10} {escape(check['value'])}")
            out.print(f"     {'':<10} {escape(check['detail'])}")
    if not report["healthy"]:
        raise typer.Exit(1)
