"""Each workflow as a LangServe endpoint, with thread IDs and gate answers that work.

Stock LangServe drops `configurable.thread_id` and coerces a client's `Command` into the input
schema, which silently restarts a thread. So each workflow is served through a small Runnable
whose input is either the workflow's inputs or `{"resume": {"decision": ..., "comment": ...}}`;
it builds the LangGraph `Command` on the server, and returns where the thread stopped
(including its pending gate) explicitly. The thread ID travels in the request's
`config.configurable.thread_id`, read from the body by `thread_config`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, Field, ValidationError

from lockstep.aclient import AsyncLockstep
from lockstep.errors import ThreadNotFound, ThreadStateError
from lockstep.ids import check_id
from lockstep.ownership import check_refs
from lockstep.server.auth import Principal

__all__ = [
    "EndpointInput",
    "EndpointOutput",
    "GateAnswer",
    "WorkflowEndpoint",
    "precheck",
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
        configurable["thread_id"] = check_id(str(sent["thread_id"]))
    configurable["lockstep_user"] = request.state.principal
    return {**config, "configurable": configurable}


def _invalid(loc: tuple[str, ...], msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": msg}])


def precheck(workflow: str, client: AsyncLockstep) -> Callable[[Request], Awaitable[None]]:
    """A route dependency for the workflow's LangServe routes: the request checks that must
    answer before LangServe starts a response. LangServe answers 500 to bodies its own schema
    lets through (non-UTF-8 JSON, `"config": null`, batch `inputs` that are not a list), and a
    refusal raised inside a stream, once its 200 has gone out, can only break the connection.
    So bad bodies get 422 here, and a start or a gate answer is checked, without side effects,
    as `WorkflowEndpoint.astream` will then do it: roles, inputs, thread ownership, decision."""

    async def check(request: Request) -> None:
        if request.method != "POST" or request.url.path.endswith("/token_feedback"):
            return
        try:
            body = await request.json()
        except ValueError:
            raise _invalid((), "the body is not valid JSON") from None
        if not isinstance(body, dict):
            return  # LangServe answers 422 itself
        if "config" in body and not isinstance(body["config"], dict | list | str):
            raise _invalid(("config",), "config must be an object")
        if request.url.path.endswith("/batch"):
            inputs = body.get("inputs")
            if not isinstance(inputs, list):
                raise _invalid(("inputs",), "inputs must be a list")
            configs = body.get("config")
            if isinstance(configs, list) and len(configs) != len(inputs):
                raise _invalid(("config",), "give one config per input, or one for all")
            per_input = configs if isinstance(configs, list) else [configs] * len(inputs)
            items = list(zip(inputs, per_input, strict=True))
        else:
            items = [(body.get("input"), body.get("config"))]
        principal: Principal = request.state.principal
        field = "inputs" if request.url.path.endswith("/batch") else "input"
        for given, config in items:
            try:
                data = EndpointInput.model_validate(given)
            except ValidationError as exc:  # (LangServe's batch would answer 500)
                errors = [{**e, "loc": ("body", field, *e["loc"])} for e in exc.errors()]
                raise RequestValidationError(errors) from None
            sent = (config or {}).get("configurable") if isinstance(config, dict) else None
            thread_id = str(sent.get("thread_id") or "") if isinstance(sent, dict) else ""
            if thread_id:
                check_id(thread_id)
            await _check_one(workflow, client, principal, data, thread_id)

    return check


async def _check_one(
    workflow: str, client: AsyncLockstep, principal: Principal, data: EndpointInput, thread: str
) -> None:
    from lockstep.client import resume_payload
    from lockstep.graphs import workflow_module
    from lockstep.server.api import require

    if data.resume is not None:
        require(principal, "approver")
        row = await asyncio.to_thread(client.db.thread, thread) if thread else None
        if row is None or row["workflow"] != workflow or not principal.owns(row["created_by"]):
            raise ThreadNotFound(thread)
        answer = {k: v for k, v in data.resume.model_dump().items() if v is not None}
        current = await client.status(thread)
        resume_payload(current, answer.pop("decision"), by=principal.user, **answer)
        return
    require(principal, "submitter")
    inputs = {
        k: v for k, v in data.model_dump(exclude={"inputs", "resume"}).items() if v is not None
    }
    await asyncio.to_thread(check_refs, client.db, data.inputs, principal.owns)
    await asyncio.to_thread(workflow_module(workflow).check_inputs, {**inputs, **data.inputs})
    if thread and await asyncio.to_thread(client.db.thread, thread) is not None:
        raise ThreadStateError(f"thread {thread!r} already exists; use resume")


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
            await asyncio.to_thread(check_refs, self.client.db, inputs, principal.owns)
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
