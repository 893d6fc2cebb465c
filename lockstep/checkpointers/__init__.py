"""LangGraph checkpointers opened from lockstep's one database URL.

Sync savers serve the CLI, workers and notebooks; the async twins serve the server, which
LangServe drives through `ainvoke`/`astream`. Both read and write the same tables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from lockstep.checkpointers.fence import Fence
from lockstep.db import connect_postgres, connect_sqlite, parse_url, resolve_url
from lockstep.errors import StorageError

_SETUP_RACES = {"23505", "42P07", "42710", "40P01"}
"""unique_violation, duplicate_table, duplicate_object, deadlock_detected"""

__all__ = ["close_checkpointer", "open_async_checkpointer", "open_checkpointer"]


def open_checkpointer(
    url: str | None = None, *, fence: Fence | None = None
) -> BaseCheckpointSaver[Any]:
    """A set-up sync saver, SqliteSaver or PostgresSaver; close with `close_checkpointer`.
    With `fence` (a worker's), every write first checks that the job's lease is still held."""
    location = parse_url(resolve_url(url))
    if location.dialect == "sqlite":
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        assert location.path is not None
        from lockstep.checkpointers.fenced import FencedSqliteSaver

        conn = connect_sqlite(location.path)
        saver = SqliteSaver(conn) if fence is None else FencedSqliteSaver(conn, fence)
        try:
            saver.setup()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open SQLite database {location.path}: {exc}") from None
        return saver
    from langgraph.checkpoint.postgres import PostgresSaver

    from lockstep.checkpointers.fenced import FencedPostgresSaver

    pg_conn = connect_postgres(location.url)
    pg_saver = PostgresSaver(pg_conn) if fence is None else FencedPostgresSaver(pg_conn, fence)
    for attempt in range(6):
        try:
            pg_saver.setup()
            break
        except Exception as exc:
            # Two processes setting up a fresh database race to create the same tables (a lock
            # around setup() deadlocks on its CREATE INDEX CONCURRENTLY); the loser retries
            # and finds them made.
            if attempt == 5 or getattr(exc, "sqlstate", None) not in _SETUP_RACES:
                raise
            time.sleep(0.1 * (attempt + 1))
    return pg_saver


def close_checkpointer(saver: BaseCheckpointSaver[Any]) -> None:
    """Close the connection a saver from `open_checkpointer` holds."""
    conn = getattr(saver, "conn", None)
    if conn is not None:
        conn.close()


@asynccontextmanager
async def open_async_checkpointer(
    url: str | None = None,
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """An async saver for the lifetime of the block (AsyncSqliteSaver or AsyncPostgresSaver)."""
    location = parse_url(resolve_url(url))
    if location.dialect == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        assert location.path is not None
        location.path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(location.path)) as saver:
            await saver.conn.execute("PRAGMA busy_timeout = 30000")
            await saver.setup()
            yield saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(location.url) as saver:
        for attempt in range(6):
            try:
                await saver.setup()
                break
            except Exception as exc:  # the same setup race as above
                if attempt == 5 or getattr(exc, "sqlstate", None) not in _SETUP_RACES:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        yield saver
