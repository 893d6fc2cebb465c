"""The savers behind `lockstep.checkpointers.fence`: LangGraph's SQLite and Postgres savers
whose `put` and `put_writes` first check, in the same transaction, that the lease holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from lockstep.checkpointers.fence import HOLDS, Fence

__all__ = ["FencedPostgresSaver", "FencedSqliteSaver"]


class FencedSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose writes happen only while `fence`'s lease holds."""

    def __init__(self, conn: Any, fence: Fence) -> None:
        super().__init__(conn)
        self.lock = threading.RLock()  # type: ignore[assignment]  # re-entered by put below
        self.fence = fence

    @contextmanager
    def _fenced(self) -> Iterator[None]:
        if self.fence.job_id is None:
            yield
            return
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                held = self.conn.execute(
                    HOLDS.format(p="?"), (self.fence.job_id, self.fence.token)
                ).fetchone()
                if held is None:
                    raise self.fence.refuse()
                yield  # the saver's own cursor commits this transaction
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._fenced():
            return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with self._fenced():
            super().put_writes(config, writes, task_id, task_path)


class FencedPostgresSaver(PostgresSaver):
    """`PostgresSaver` whose writes happen only while `fence`'s lease holds."""

    def __init__(self, conn: Any, fence: Fence) -> None:
        super().__init__(conn)
        self.lock = threading.RLock()  # type: ignore[assignment]  # re-entered by put below
        self.fence = fence

    @contextmanager
    def _fenced(self) -> Iterator[None]:
        if self.fence.job_id is None:
            yield
            return
        conn: Any = self.conn  # a Connection: `open_checkpointer` never passes a pool
        with self.lock, conn.transaction():
            held = conn.execute(
                HOLDS.format(p="%s") + " FOR SHARE", (self.fence.job_id, self.fence.token)
            ).fetchone()
            if held is None:
                raise self.fence.refuse()
            yield

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._fenced():
            return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with self._fenced():
            super().put_writes(config, writes, task_id, task_path)
