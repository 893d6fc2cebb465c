"""Run settings and services for a workflow, passed as LangGraph's runtime `context`.

Filled from explicit arguments, then the environment, then defaults. `configurable` only
addresses threads and checkpoints.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from lockstep.agents.models import Schema, call, get_chat_model, structured_output
from lockstep.artifacts.store import ArtifactStore
from lockstep.db import Database

__all__ = ["RunContext", "context_of", "thread_of", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@cache
def default_database() -> Database:
    """The database a host that passes no context runs against: `LOCKSTEP_DATABASE_URL`, else
    the embedded default (opened once per process, on first use: importing a graph opens
    nothing)."""
    return Database(None)


@cache
def default_artifacts() -> ArtifactStore:
    """The artifact store beside `default_database()`."""
    return ArtifactStore(default_database())


T = TypeVar("T")


class FromEnvironment(Generic[T]):
    """A `RunContext` field whose default is opened on first use, not when the context is
    built: LangGraph builds a host's `{}` context on the event loop (`langgraph dev` refuses
    blocking calls there), while nodes run in worker threads, where opening a database may
    block. (A dataclass field whose default is a descriptor is read and written through it.)"""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> FromEnvironment[T]: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> T | FromEnvironment[T]:
        if obj is None:
            return self
        value = obj.__dict__.get(self.slot, self)
        if value is self:
            value = self.factory()
            obj.__dict__[self.slot] = value
        return cast(T, value)

    def __set__(self, obj: object, value: T | FromEnvironment[T]) -> None:
        obj.__dict__[self.slot] = value


@dataclass
class RunContext:
    """Services and limits a run's nodes use; one per client (not checkpointed).

    Every field has a default, so a host that passes no context or `{}` (`langgraph dev`,
    LangGraph Platform, `graph.invoke(..., context={})`) gets one built from the
    environment: `LOCKSTEP_DATABASE_URL` and `LOCKSTEP_MODEL`."""

    db: FromEnvironment[Database] = FromEnvironment(default_database)
    """lockstep's tables; also the journal the compiler writes transitions to."""
    artifacts: FromEnvironment[ArtifactStore] = FromEnvironment(default_artifacts)
    """Where every output is stored."""
    model: BaseChatModel = field(default_factory=get_chat_model)
    """The chat model (`LOCKSTEP_MODEL`; offline by default)."""
    clock: Callable[[], datetime] = utcnow
    """Injectable clock for deadlines and time limits."""
    research_timeout: float | None = None
    """Seconds a research round may run; None uses the machine's declared `timeout` (10m).
    Async graphs also use it as the agent step's `TimeoutPolicy` (read when the graph is
    built)."""
    batch_size: int = 5
    """Sources read per research step (one checkpoint per batch)."""
    min_sources: int = 3
    """Fewer relevant sources than this stops at the human_input_needed gate."""
    max_sources: int = 12
    """Most relevant documents read per research round."""
    quotes_per_source: int = 5
    """Quotes kept per gathered source (per `extract` call in agent mode)."""
    agent_max_tool_calls: int = 20
    """Agent research mode's step budget: tool calls per research round, valid or not. Once
    spent, research ends with the sources gathered so far."""
    llm_tokens: int | None = field(
        default_factory=lambda: (
            int(os.environ["LOCKSTEP_LLM_TOKENS"])
            if os.environ.get("LOCKSTEP_LLM_TOKENS")
            else None
        )
    )
    """LLM token budget per run (in + out); once spent, steps that declare `budget_exhausted`
    raise it instead of calling the model. None: no budget (`LOCKSTEP_LLM_TOKENS`)."""

    limiter: Any = None
    """The queue's `RateLimiter` for named external calls (set by workers); None: no limits."""
    user: str | None = None
    """Who the run is for (a job's submitter), the key of `scope: user` limits."""
    workflow: str | None = None
    job_id: str | None = None
    """The job a worker runs this step for (set by workers); None outside the queue."""
    queue_config: Any = None
    """The queue's configuration (a `QueueConfig`, set by workers and by clients whose queue
    is open): where the `notify` action and session expiry find the workflow's `notify:`
    targets. None: those notifications have nowhere to go and are not queued."""
    cancel: threading.Event | None = None
    """Set by a worker when the job is cancelled: an LLM call in flight is dropped
    (`CallCancelled`). None outside workers: calls are plain `invoke`."""

    @property
    def journal(self) -> Database:
        return self.db

    @property
    def index_cache(self) -> Path:
        """Where corpus indexes are kept for every step and process: `LOCKSTEP_INDEX_CACHE`,
        else beside a SQLite database file, else the user's cache folder (Postgres)."""
        configured = os.environ.get("LOCKSTEP_INDEX_CACHE")
        if configured:
            return Path(configured)
        path = getattr(self.db.location, "path", None)
        if path is not None:
            return Path(path).parent / "index-cache"
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "lockstep" / "index-cache"

    def invoke(self, messages: Any, *, tools: Sequence[BaseTool] = ()) -> BaseMessage:
        """The chat model's answer to `messages` (cancellable, see `cancel`); with `tools`,
        bound with `bind_tools`, so the answer may ask for tool calls."""
        model: Any = self.model.bind_tools(list(tools)) if tools else self.model
        answer: BaseMessage = call(model, messages, self.cancel)
        return answer

    def structured(self, schema: type[Schema], messages: Any) -> Schema:
        """A `schema` instance from the chat model (see `structured_output`)."""
        return structured_output(self.model, schema, messages, self.cancel)

    def acquire(self, name: str, amount: float = 1.0) -> float:
        """Take `amount` of the named rate limit (e.g. `search_api_calls`) before an external
        call, waiting while it is spent; a limit nobody declared costs nothing. Returns the
        seconds waited."""
        if self.limiter is None or name not in self.limiter.limits:
            return 0.0
        waited: float = self.limiter.acquire(
            name, user=self.user, workflow=self.workflow, amount=amount
        )
        return waited


@cache
def _default_context() -> RunContext:
    return RunContext()


def context_of(runtime: Runtime[Any]) -> RunContext:
    """The run's context, or one built from the environment when the graph is driven by a host
    that passes none (`langgraph dev`, a bare LangServe route)."""
    ctx = runtime.context
    return ctx if isinstance(ctx, RunContext) else _default_context()


def thread_of(runtime: Runtime[Any]) -> str:
    info = runtime.execution_info
    return (info.thread_id if info else None) or "unthreaded"
