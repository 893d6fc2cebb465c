"""LangGraph checkpointers opened from lockstep's one database URL.

Sync savers serve the CLI, workers and notebooks; the async twins serve the server, which
LangServe drives through `ainvoke`/`astream`. Both read and write the same tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from lockstep.db import connect_postgres, connect_sqlite, parse_url, resolve_url
from lockstep.errors import StorageError

__all__ = ["close_checkpointer", "open_async_checkpointer", "open_checkpointer"]


def open_checkpointer(url: str | None = None) -> BaseCheckpointSaver[Any]:
    """A set-up sync saver, SqliteSaver or PostgresSaver; close with `close_checkpointer`."""
    location = parse_url(resolve_url(url))
    if location.dialect == "sqlite":
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        assert location.path is not None
        saver = SqliteSaver(connect_sqlite(location.path))
        try:
            saver.setup()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open SQLite database {location.path}: {exc}") from None
        return saver
    from langgraph.checkpoint.postgres import PostgresSaver

    pg_saver = PostgresSaver(connect_postgres(location.url))
    pg_saver.setup()
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
        await saver.setup()
        yield saver
