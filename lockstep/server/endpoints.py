"""Each workflow as a LangServe endpoint, with thread IDs and gate answers that work.

Stock LangServe drops `configurable.thread_id` and coerces a client's `Command` into the input
schema, which silently restarts a thread. So each workflow is served through a small Runnable
whose input is either the workflow's inputs or `{"resume": {"decision": ..., "comment": ...}}`;
it builds the LangGraph `Command` on the server, and returns where the thread stopped
(including its pending gate) explicitly. The thread ID travels in the request's
`config.configurable.thread_id`, read from the body by `thread_config`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, Field

from lockstep.aclient import AsyncLockstep
from lockstep.errors import ThreadNotFound
from lockstep.server.auth import Principal

__all__ = [
    "EndpointInput",
    "EndpointOutput",
    "GateAnswer",
    "WorkflowEndpoint",
    "config_not_null",
    "thread_config",
]


class GateAnswer(BaseModel):
    """A decision for the thread's pending gate."""

    decision: str
    comment: str | None = None
    sources: str | None = Field(default=None, description="A folder, for `add_sources`.")


class EndpointInput(BaseModel):
    """Start a thread (`topic`, `sources`, and any other workflow inputs in `inputs`), or
    answer its pending gate with `resume`. The thread ID goes in
    `config.configurable.thread_id`."""

    topic: str | None = None
    sources: list[str] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    resume: GateAnswer | None = None


class EndpointOutput(BaseModel):
    """Where the thread is after this call (streamed once per step, then once at the end)."""

    thread_id: str
    status: str
    step: str | None = None
    final: bool = False
    gate: dict[str, Any] | None = None


async def thread_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """LangServe's per-request modifier: keep the body's thread_id, add the caller."""
    try:
        body = await request.json()
    except ValueError:
        body = {}
    sent = ((body.get("config") or {}).get("configurable") or {}) if isinstance(body, dict) else {}
    configurable = dict(config.get("configurable") or {})
    if sent.get("thread_id"):
        configurable["thread_id"] = str(sent["thread_id"])
    configurable["lockstep_user"] = request.state.principal
    return {**config, "configurable": configurable}


async def config_not_null(request: Request) -> None:
    """Refuse `"config": null` with 422: LangServe's request models accept it, then its config
    merge raises TypeError (a 500). Runs as a route dependency, before LangServe's handler."""
    if request.method != "POST":
        return
    try:
        body = await request.json()
    except ValueError:
        return  # LangServe answers malformed JSON with 422 itself
    if isinstance(body, dict) and "config" in body and body["config"] is None:
        raise RequestValidationError(
            [{"type": "dict_type", "loc": ("body", "config"), "msg": "config must be an object"}]
        )


class WorkflowEndpoint(Runnable[dict[str, Any], dict[str, Any]]):
    """A workflow served over LangServe; async only (LangServe calls ainvoke/astream)."""

    def __init__(self, workflow: str, client: AsyncLockstep) -> None:
        self.workflow = workflow
        self.client = client
        self.name = workflow

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} is async-only: use ainvoke/astream")

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        raise TypeError(f"{type(self).__name__} is async-only: use ainvoke/astream")

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}
        async for chunk in self.astream(input, config, **kwargs):
            last = chunk
        return last

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        from lockstep.server.api import require

        data = input.model_dump() if isinstance(input, BaseModel) else dict(input)
        configurable = dict((config or {}).get("configurable") or {})
        principal: Principal = configurable["lockstep_user"]
        thread_id = configurable.get("thread_id")
        answer = data.pop("resume", None)
        if answer is not None:
            require(principal, "approver")
            if not thread_id:
                raise ThreadNotFound("")
            row = self.client.db.thread(thread_id)
            if (
                row is None
                or row["workflow"] != self.workflow
                or not principal.owns(row["created_by"])
            ):
                raise ThreadNotFound(thread_id)
            answer = {k: v for k, v in dict(answer).items() if v is not None}
            workflow, payload = await self.client.answer(
                thread_id, answer.pop("decision"), by=principal.user, **answer
            )
        else:
            require(principal, "submitter")
            extra = data.pop("inputs", None) or {}
            inputs = {**{k: v for k, v in data.items() if v is not None}, **extra}
            thread_id, payload = await self.client.start(
                self.workflow, thread_id=thread_id, created_by=principal.user, **inputs
            )
            workflow = self.workflow
        run_config = {k: v for k, v in (config or {}).items() if k != "configurable"}
        async for node, update in self.client.stream(workflow, payload, thread_id, run_config):
            yield {"thread_id": thread_id, "step": node, "status": update.get("status", "")}
        status = await self.client.status(thread_id)
        yield {
            "thread_id": thread_id,
            "status": status.status,
            "step": None,
            "final": status.final,
            "gate": status.gate,
        }
