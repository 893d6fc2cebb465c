"""Each workflow as a LangServe endpoint, with thread IDs and gate answers that work.

Stock LangServe drops `configurable.thread_id` and coerces a client's `Command` into the input
schema, which silently restarts a thread. So each workflow is served through a small Runnable
whose input is either the workflow's inputs or `{"resume": {"decision": ..., "comment": ...}}`;
it builds the LangGraph `Command` on the server, and returns where the thread stopped
(including its pending gate) explicitly, and, once it stops, what it delivered (`result`:
the final artifact with its content, and the verification summary). The thread ID travels in
`config.configurable.thread_id`, a configurable field the Runnable declares (so LangServe
keeps it, per item in `batch`, and the playground offers it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import cache
from typing import Any, get_type_hints

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

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
    "input_model",
    "precheck",
    "thread_config",
]


def no_nulls(schema: dict[str, Any]) -> None:
    """Drop `{"type": "null"}` from optional properties of a JSON schema: LangServe's
    playground builds its form from the schema and fails on a `null` type (a blank page),
    while an absent field means the same to the server."""
    for prop in (schema.get("properties") or {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        options = prop.get("anyOf")
        if not options:
            continue
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


def _answer_schema(schema: dict[str, Any]) -> None:
    """GateAnswer's JSON schema as forms need it: no `null` types, and `decision` not marked
    required there — the playground validates the nested form even when no answer is given
    (a start); the server still refuses an answer without a decision."""
    no_nulls(schema)
    schema.pop("required", None)


class GateAnswer(BaseModel):
    """A decision for the thread's pending gate."""

    model_config = ConfigDict(json_schema_extra=_answer_schema)

    decision: str
    comment: str | None = None
    sources: str | None = Field(default=None, description="A folder, for `add_sources`.")


class EndpointInput(BaseModel):
    """Start a thread (`topic`, `sources`, and the workflow's other inputs, given flat as the
    CLI takes them or under `inputs`), or answer its pending gate with `resume`. The thread
    ID goes in `config.configurable.thread_id`."""

    model_config = ConfigDict(extra="allow", json_schema_extra=no_nulls)

    topic: str | None = None
    sources: list[str] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    resume: GateAnswer | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_answer_is_none(cls, data: Any) -> Any:
        """A form (the playground) sends `resume` with every field empty when the person
        starts a thread rather than answering: that is no answer at all."""
        answer = data.get("resume") if isinstance(data, dict) else None
        if isinstance(answer, dict) and all(v in (None, "") for v in answer.values()):
            data = {**data, "resume": None}
        return data

    def workflow_inputs(self) -> dict[str, Any]:
        """The inputs to start with: the fields given flat (declared or not), then `inputs`."""
        flat = self.model_dump(exclude={"inputs", "resume"}, exclude_none=True)
        return {**flat, **self.inputs}


@cache
def input_model(workflow: str) -> type[EndpointInput]:
    """`EndpointInput` with the workflow's own input fields declared (all optional: a
    `resume` needs none), so LangServe keeps them and its playground offers them."""
    from lockstep.graphs import workflow_module

    module = workflow_module(workflow)
    graph = getattr(module, "graph", None) or module.build_graph()  # a user's may export none
    hints = get_type_hints(graph.builder.input_schema)
    fields: dict[str, Any] = {
        name: (annotation | None, None)
        for name, annotation in hints.items()
        if name not in EndpointInput.model_fields
    }
    title = "".join(part.title() for part in workflow.split("_")) + "Input"
    model: type[EndpointInput] = create_model(title, __base__=EndpointInput, **fields)
    return model


class EndpointOutput(BaseModel):
    """Where the thread is after this call (streamed once per step, then once at the end,
    which adds `result`)."""

    thread_id: str
    status: str
    step: str | None = None
    final: bool = False
    gate: dict[str, Any] | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description="Once the thread stops: its deliverable (`artifact` with its `content` "
        "when it is text) and, where the workflow verifies, the `verification` summary.",
    )


async def thread_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """LangServe's per-request modifier (called once per item of a batch): add the caller."""
    configurable = dict(config.get("configurable") or {})
    if configurable.get("thread_id"):
        configurable["thread_id"] = check_id(str(configurable["thread_id"]))
    else:
        configurable.pop("thread_id", None)
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
            named = [_thread_of(c) for c in per_input if _thread_of(c)]
            if len(named) != len(set(named)):
                raise _invalid(("config",), "each batch item needs a thread of its own")
        else:
            items = [(body.get("input"), body.get("config"))]
        principal: Principal = request.state.principal
        field = "inputs" if request.url.path.endswith("/batch") else "input"
        for given, config in items:
            try:
                data = input_model(workflow).model_validate(given)
            except ValidationError as exc:  # (LangServe's batch would answer 500)
                errors = [{**e, "loc": ("body", field, *e["loc"])} for e in exc.errors()]
                raise RequestValidationError(errors) from None
            thread_id = _thread_of(config)
            if thread_id:
                check_id(thread_id)
            await _check_one(workflow, client, principal, data, thread_id)

    return check


def _thread_of(config: Any) -> str:
    sent = config.get("configurable") if isinstance(config, dict) else None
    return str(sent.get("thread_id") or "") if isinstance(sent, dict) else ""


async def _check_one(
    workflow: str, client: AsyncLockstep, principal: Principal, data: EndpointInput, thread: str
) -> None:
    from lockstep.graphs import workflow_module
    from lockstep.server.api import require
    from lockstep.threads import resume_payload

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
    inputs = data.workflow_inputs()
    await asyncio.to_thread(check_refs, client.db, inputs, principal.owns)
    await asyncio.to_thread(workflow_module(workflow).check_inputs, inputs)
    if thread and await asyncio.to_thread(client.db.thread, thread) is not None:
        raise ThreadStateError(f"thread {thread!r} already exists; use resume")


class WorkflowEndpoint(Runnable[dict[str, Any], dict[str, Any]]):
    """A workflow served over LangServe; async only (LangServe calls ainvoke/astream)."""

    def __init__(self, workflow: str, client: AsyncLockstep) -> None:
        self.workflow = workflow
        self.client = client
        self.name = workflow

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """`thread_id` is the one configurable field: LangServe then keeps it (per item in
        `batch`), and its playground and config schema offer it."""
        return [
            ConfigurableFieldSpec(
                id="thread_id",
                annotation=str,
                name="Thread ID",
                description="The thread to start (empty: a new random ID) or to answer.",
                default="",
            )
        ]

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} is async-only: use ainvoke/astream")

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        raise TypeError(f"{type(self).__name__} is async-only: use ainvoke/astream")

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Each item in its own thread, all at once (at most the config's `max_concurrency`,
        as `Runnable.abatch` does); an item's failure is its result with `return_exceptions`."""
        configs = config if isinstance(config, list) else [config] * len(inputs)
        limit = next((c.get("max_concurrency") for c in configs if c), None)
        gate = asyncio.Semaphore(limit or max(len(inputs), 1))

        async def one(item: dict[str, Any], item_config: RunnableConfig | None) -> Any:
            async with gate:
                return await self.ainvoke(item, item_config, **kwargs)

        runs = [one(item, c) for item, c in zip(inputs, configs, strict=True)]
        return list(await asyncio.gather(*runs, return_exceptions=return_exceptions))

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
            inputs = input_model(self.workflow).model_validate(data).workflow_inputs()
            await asyncio.to_thread(check_refs, self.client.db, inputs, principal.owns)
            thread_id, payload = await self.client.start(
                self.workflow, thread_id=thread_id or None, created_by=principal.user, **inputs
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
            "result": await asyncio.to_thread(result_of, self.client, workflow, thread_id),
        }


TEXT_FORMATS = ("markdown", "text", "json")


def result_of(client: AsyncLockstep, workflow: str, thread_id: str) -> dict[str, Any] | None:
    """What the thread delivered so far: the workflow's `RESULT` artifact (latest complete
    version, with its content when it is text) and, when the thread verified something, the
    summary of its latest verification report. None before there is either."""
    from lockstep.graphs import workflow_module

    store = client.artifacts
    name = getattr(workflow_module(workflow), "RESULT", "final")
    result: dict[str, Any] = {}
    meta = store.latest_complete(thread_id, name)
    if meta is not None:
        artifact = meta.to_dict()
        artifact["content"] = store.text(meta) if meta.format in TEXT_FORMATS else None
        result["artifact"] = artifact
    report = store.latest_complete(thread_id, "verification")
    if report is not None:
        data = store.json(report)
        failures = [f.get("message", str(f)) for f in data.get("failures") or []]
        result["verification"] = {
            "ok": not failures,
            "citations": len(data.get("citations") or []),
            "failures": failures[:20],
            "report": report.ref,
        }
    return result or None
