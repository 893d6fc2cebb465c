"""What the Agent Protocol needs beyond lockstep's own tables: threads created before their
first run (with their metadata and owner) and the record of each run, plus who the caller is
(`Authorization: Bearer` or the SDK's `x-api-key`) and whose threads they may see.

Its two tables come from migration 9 (`lockstep_protocol_threads`, `lockstep_protocol_runs`).
A protocol thread's ID is its lockstep thread ID: its lockstep row (workflow,
owner, input) is written when its first run starts, so threads started through the REST API,
the CLI or LangServe are protocol threads too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request

from lockstep.aclient import AsyncLockstep
from lockstep.db import Database
from lockstep.errors import ThreadNotFound
from lockstep.server.auth import LOCAL, Principal, authenticate, presented_key

__all__ = [
    "caller",
    "client_of",
    "insert_run",
    "new_thread",
    "now",
    "owner_of",
    "run_row",
    "runs_of",
    "set_run",
    "thread_row",
    "visible",
    "visible_threads",
]


def now() -> str:
    return datetime.now(UTC).isoformat()


def client_of(request: Request) -> AsyncLockstep:
    client: AsyncLockstep = request.app.state.lockstep
    return client


async def caller(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `x-api-key: <key>`; with
    `--no-auth`, the local admin."""
    state = request.app.state
    client = client_of(request)
    if not state.auth:
        request.state.principal = LOCAL
        return LOCAL
    key = presented_key(request.headers)
    principal = await asyncio.to_thread(authenticate, client.db, key) if key else None
    if principal is None:
        raise HTTPException(401, "a valid API key is required", {"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def thread_row(db: Database, thread_id: str) -> dict[str, Any] | None:
    """The protocol's row of the thread (None for threads started elsewhere)."""
    rows = db.query("SELECT * FROM lockstep_protocol_threads WHERE thread_id = ?", (thread_id,))
    if not rows:
        return None
    row = rows[0]
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def owner_of(db: Database, thread_id: str) -> tuple[bool, str | None]:
    """(the thread exists, who created it)."""
    row = thread_row(db, thread_id)
    if row is not None:
        return True, row["created_by"]
    started = db.thread(thread_id)
    if started is not None:
        return True, started["created_by"]
    return False, None


def visible(db: Database, principal: Principal, thread_id: str) -> None:
    """Refuse a thread the caller may not see exactly as an unknown one (404)."""
    exists, owner = owner_of(db, thread_id)
    if not exists or not principal.owns(owner):
        raise ThreadNotFound(thread_id)


def new_thread(
    db: Database, principal: Principal, thread_id: str | None, metadata: dict[str, Any]
) -> tuple[str, bool]:
    """Register a thread for `principal`; returns (thread ID, created now)."""
    thread_id = thread_id or str(uuid.uuid4())
    if owner_of(db, thread_id)[0]:
        return thread_id, False
    at = now()
    written = db.insert_unique(
        "INSERT INTO lockstep_protocol_threads (thread_id, created_by, created_at, updated_at,"
        " metadata) VALUES (?, ?, ?, ?, ?)",
        (thread_id, principal.user, at, at, json.dumps(metadata, default=str)),
    )
    return thread_id, written


def visible_threads(db: Database, principal: Principal) -> list[dict[str, Any]]:
    """Every thread the caller may see, newest first: {thread_id, created_at, metadata,
    created_by, workflow (None before the first run)}."""
    found: dict[str, dict[str, Any]] = {}
    for row in db.query("SELECT * FROM lockstep_protocol_threads"):
        if principal.owns(row["created_by"]):
            found[row["thread_id"]] = {
                **row,
                "metadata": json.loads(row["metadata"] or "{}"),
                "workflow": None,
            }
    for row in db.threads():
        if not principal.owns(row["created_by"]):
            continue
        entry = found.setdefault(
            row["thread_id"],
            {"thread_id": row["thread_id"], "created_at": row["created_at"], "metadata": {}},
        )
        entry.update(workflow=row["workflow"], created_by=row["created_by"])
        entry.setdefault("updated_at", row["created_at"])
    return sorted(found.values(), key=lambda r: str(r["created_at"]), reverse=True)


def insert_run(
    db: Database,
    *,
    thread_id: str,
    assistant_id: str,
    workflow: str,
    user: str,
    metadata: dict[str, Any],
    job_id: str | None = None,
    status: str = "pending",
) -> dict[str, Any]:
    run_id = str(uuid.uuid4())
    at = now()
    db.execute(
        "INSERT INTO lockstep_protocol_runs (run_id, thread_id, assistant_id, workflow, status,"
        " job_id, created_by, created_at, updated_at, metadata)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, thread_id, assistant_id, workflow, status, job_id, user, at, at,
         json.dumps(metadata, default=str)),
    )  # fmt: skip
    row = run_row(db, thread_id, run_id)
    assert row is not None
    return row


def run_row(db: Database, thread_id: str, run_id: str) -> dict[str, Any] | None:
    rows = db.query(
        "SELECT * FROM lockstep_protocol_runs WHERE run_id = ? AND thread_id = ?",
        (run_id, thread_id),
    )
    if not rows:
        return None
    rows[0]["metadata"] = json.loads(rows[0]["metadata"] or "{}")
    return rows[0]


def runs_of(db: Database, thread_id: str) -> list[dict[str, Any]]:
    """The thread's runs, newest first."""
    rows = db.query(
        "SELECT * FROM lockstep_protocol_runs WHERE thread_id = ? ORDER BY created_at DESC",
        (thread_id,),
    )
    for row in rows:
        row["metadata"] = json.loads(row["metadata"] or "{}")
    return rows


def set_run(db: Database, run_id: str, status: str, error: str | None = None) -> None:
    db.execute(
        "UPDATE lockstep_protocol_runs SET status = ?, error = ?, updated_at = ? WHERE run_id = ?",
        (status, error, now(), run_id),
    )
