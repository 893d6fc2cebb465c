"""`AsyncLockstep`: the async twin of `Lockstep` for servers and notebooks with a running loop.

It shares the sync client's checks (`start_payload`, `resume_payload`, `status_of`,
`failure_route`), its database, artifacts and run context. The checkpointer differs
(LangGraph's async savers, `AsyncSqliteSaver`/`AsyncPostgresSaver`, opened for the life of
`async with`), and so do the graphs: a workflow module whose `build_graph` takes
`asynchronous=True` binds its async steps, which LangGraph's `TimeoutPolicy` can bound.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from lockstep.checkpointers import open_async_checkpointer
from lockstep.client import Lockstep, ThreadStatus
from lockstep.errors import LockstepError, ThreadNotFound
from lockstep.gates import claim_gate
from lockstep.graphs import workflow_module
from lockstep.threads import failure_route, resume_payload, start_payload, status_of

__all__ = ["AsyncLockstep"]


class AsyncLockstep:
    """Run, resume and inspect threads from async code; the same rules as `Lockstep`.

    >>> async with AsyncLockstep("sqlite:///.lockstep/lockstep.db") as ls:
    ...     st = await ls.run("brief", topic="...", sources=["examples/corpus"])
    """

    def __init__(self, database_url: str | None = None, **options: Any) -> None:
        self.sync = Lockstep(database_url, **options)
        """The sync client on the same database, for reads that need no checkpointer."""
        self.db = self.sync.db
        self.artifacts = self.sync.artifacts
        self._saver_cm: AbstractAsyncContextManager[Any] | None = None
        self._saver: Any = None
        self._graphs: dict[str, Any] = {}

    async def __aenter__(self) -> AsyncLockstep:
        self._saver_cm = open_async_checkpointer(self.db.url)
        self._saver = await self._saver_cm.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._saver_cm is not None:
            await self._saver_cm.__aexit__(*exc)
            self._saver_cm = self._saver = None
        self.sync.close()

    def graph(self, workflow: str) -> Any:
        """The workflow's compiled graph on the async checkpointer."""
        if self._saver is None:
            raise RuntimeError("AsyncLockstep is not open: use `async with AsyncLockstep(...)`")
        if workflow not in self._graphs:
            build = workflow_module(workflow).build_graph
            if "asynchronous" in inspect.signature(build).parameters:
                graph = build(self._saver, asynchronous=True, settings=self.sync.settings)
            else:
                graph = build(self._saver)
            self._graphs[workflow] = graph
        return self._graphs[workflow]

    async def _workflow_of(self, thread_id: str) -> str:
        row = await asyncio.to_thread(self.db.thread, thread_id)
        if row is None:
            raise ThreadNotFound(thread_id)
        return str(row["workflow"])

    async def status(self, thread_id: str) -> ThreadStatus:
        workflow = await self._workflow_of(thread_id)
        config = {"configurable": {"thread_id": thread_id}}
        return status_of(thread_id, workflow, await self.graph(workflow).aget_state(config))

    async def stream(
        self, workflow: str, payload: Any, thread_id: str, config: Mapping[str, Any] | None = None
    ) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """Drive a thread, yielding `(node, update)` after each step (each one checkpointed).
        A step that fails after its retries, or runs past its `TimeoutPolicy`, takes the
        machine's `step_failed` or `timeout` transition where one is declared."""
        merged = {**(config or {})}
        merged["configurable"] = {**merged.get("configurable", {}), "thread_id": thread_id}
        graph = self.graph(workflow)
        try:
            async for chunk in graph.astream(
                payload,
                merged,
                context=self.sync.context(),
                stream_mode="updates",
                durability="sync",
            ):
                for node, update in chunk.items():
                    if isinstance(update, Mapping):
                        yield node, update
        except LockstepError:
            raise
        except Exception as exc:
            current = await self.status(thread_id)
            values = (await graph.aget_state(merged)).values
            at = self.sync.context().clock().isoformat()
            route = failure_route(workflow, current, values, exc, at)
            if route is None:
                raise
            node, command, entry, error = route
            await graph.aupdate_state(merged, command, as_node=node)
            await asyncio.to_thread(
                self.db.record, thread_id, "transition", {**entry, "error": error}, f"step:{node}"
            )
            yield node, {"transitions": [entry]}
            async for item in self.stream(workflow, None, thread_id, config):
                yield item

    async def start(
        self,
        workflow: str,
        *,
        thread_id: str | None = None,
        created_by: str | None = None,
        **inputs: Any,
    ) -> tuple[str, Any]:
        """Check inputs and register a new thread; returns (thread_id, graph input)."""
        clock = self.sync.context().clock
        return await asyncio.to_thread(
            start_payload, self.db, workflow, thread_id, clock().isoformat(), created_by, inputs
        )

    async def answer(
        self,
        thread_id: str,
        decision: str | None = None,
        *,
        comment: str | None = None,
        by: str | None = None,
        **fields: Any,
    ) -> tuple[str, Any]:
        """Check a resume and return (workflow, graph input); refuses as `Lockstep.resume` does."""
        current = await self.status(thread_id)
        payload = await asyncio.to_thread(
            resume_payload, current, decision, comment=comment, by=by, **fields
        )
        if payload is None:
            await asyncio.to_thread(
                self.db.record, thread_id, "resume", {"next": current.next}, by or "unknown"
            )
        else:
            await asyncio.to_thread(claim_gate, self.db, current, str(decision), by)
        return current.workflow, payload

    async def run(self, workflow: str, **kwargs: Any) -> ThreadStatus:
        """Start a thread and run it until it completes, is rejected or waits at a gate."""
        thread_id, payload = await self.start(workflow, **kwargs)
        async for _ in self.stream(workflow, payload, thread_id):
            pass
        return await self.status(thread_id)

    async def resume(
        self, thread_id: str, decision: str | None = None, **kwargs: Any
    ) -> ThreadStatus:
        """Answer the pending gate (or re-run an interrupted step) and run on."""
        workflow, payload = await self.answer(thread_id, decision, **kwargs)
        async for _ in self.stream(workflow, payload, thread_id):
            pass
        return await self.status(thread_id)
