"""`steps`: the smallest useful lockstep workflow, and the template for your own.

A workflow module exposes MACHINE (the declaration), build_graph(checkpointer), check_inputs
(called at submit, before any work) and, optionally, PARTIAL_WORK. Register it in
lockstep.yaml:

    workflows:
      steps: steps          # importable module name (put its folder on PYTHONPATH)

Inputs: `steps` (units of work), `seconds` (sleep per unit), `gate` (ask for approval at the
end), `fail` (`always`: every attempt raises), `trace` (a file each finished unit appends
`<thread> <unit>` to, so tests can count executions).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from lockstep import MachineState, RunContext, compile_machine, load_machine
from lockstep.errors import RequestError
from lockstep.nodes.context import thread_of

MACHINE = load_machine(Path(__file__).with_name("steps.yaml"))


class StepsInput(TypedDict, total=False):
    steps: int
    seconds: float
    gate: bool
    fail: str
    trace: str


class StepsState(MachineState, StepsInput, total=False):
    done_steps: int


def work(state: StepsState, runtime: Runtime[Any]) -> dict[str, Any]:
    """One unit of work; raises the event that says what comes next."""
    if state.get("fail") == "always":
        raise RuntimeError("scripted failure")
    time.sleep(float(state.get("seconds") or 0))
    done = int(state.get("done_steps") or 0) + 1
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
        MACHINE, StepsState, {"working": work}, context_schema=RunContext, input_schema=StepsInput
    )
    return builder.compile(checkpointer=checkpointer, name="steps")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(inputs) - set(StepsInput.__annotations__)
    if unknown:
        raise RequestError(f"unknown input field(s) for steps: {', '.join(sorted(unknown))}")
    steps = inputs.get("steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise RequestError(f"steps must be a positive integer, got {steps!r}")
    return dict(inputs)
