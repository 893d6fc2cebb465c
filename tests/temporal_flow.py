"""`tflow`: a workflow for the Temporal engine's tests (registered as `tflow: temporal_flow`,
with tests/ on PYTHONPATH).

`drafting` writes a `draft` artifact; `working` then does `steps` units (each appends
`<thread> <unit>` to `trace`, sleeping `seconds`, stopping early when the run is cancelled);
`spans` records each unit's start and end (wall clock); `fail` makes a unit raise:
`transient` (a RuntimeError, retried) or `permanent` (a lockstep error, never retried);
`approval` has a 48 h deadline whose `timeout` decision escalates.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from lockstep import MachineState, RunContext, compile_machine, load_machine
from lockstep.errors import CallCancelled, RequestError
from lockstep.nodes.context import thread_of

MACHINE = load_machine(
    {
        "name": "tflow",
        "initial": "drafting",
        "error_state": "failed",
        "states": {
            "drafting": {"description": "Write the draft artifact."},
            "working": {"description": "One unit of work per step."},
            "approval": {"type": "human_gate", "timeout": "48h"},
            "done": {"type": "final"},
            "rejected": {"type": "final"},
            "escalated": {"type": "final"},
            "failed": {"type": "final"},
        },
        "transitions": [
            {"from": "drafting", "event": "drafted", "target": "working"},
            {"from": "working", "event": "step_done", "target": "working"},
            {"from": "working", "event": "finished", "target": "done"},
            {"from": "working", "event": "needs_review", "target": "approval"},
            {"from": "approval", "event": "approve", "target": "done"},
            {"from": "approval", "event": "reject", "target": "rejected"},
            {"from": "approval", "event": "timeout", "target": "escalated"},
        ],
    }
)
PARTIAL_WORK = ("draft",)


class FlowInput(TypedDict, total=False):
    steps: int
    seconds: float
    gate: bool
    fail: str
    trace: str
    spans: str


class FlowState(MachineState, FlowInput, total=False):
    done_steps: int
    draft: dict[str, Any]


def drafting(state: FlowState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx: RunContext = runtime.context
    ref = ctx.artifacts.put(thread_of(runtime), "draft", "a first draft\n", step="drafting")
    return {"draft": dict(ref), "event": "drafted"}


def working(state: FlowState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx: RunContext = runtime.context
    if state.get("fail") == "transient":
        raise RuntimeError("a transient failure")
    if state.get("fail") == "permanent":
        raise RequestError("a permanent failure")
    if state.get("spans"):
        with open(str(state["spans"]), "a", encoding="utf-8") as fh:
            fh.write(f"{thread_of(runtime)} start {time.time()!r}\n")
    end = time.monotonic() + float(state.get("seconds") or 0)
    while time.monotonic() < end:
        if ctx.cancel is not None and ctx.cancel.is_set():
            raise CallCancelled("the run was cancelled")
        time.sleep(0.02)
    done = int(state.get("done_steps") or 0) + 1
    if state.get("spans"):
        with open(str(state["spans"]), "a", encoding="utf-8") as fh:
            fh.write(f"{thread_of(runtime)} end {time.time()!r}\n")
    if state.get("trace"):
        with open(str(state["trace"]), "a", encoding="utf-8") as fh:
            fh.write(f"{thread_of(runtime)} {done}\n")
    if done < int(state.get("steps") or 1):
        return {"done_steps": done, "event": "step_done"}
    return {"done_steps": done, "event": "needs_review" if state.get("gate") else "finished"}


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = compile_machine(
        MACHINE,
        FlowState,
        {"drafting": drafting, "working": working},
        context_schema=RunContext,
        input_schema=FlowInput,
    )
    return builder.compile(checkpointer=checkpointer, name="tflow")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(inputs) - set(FlowInput.__annotations__)
    if unknown:
        raise RequestError(f"unknown input field(s) for tflow: {', '.join(sorted(unknown))}")
    return dict(inputs)
