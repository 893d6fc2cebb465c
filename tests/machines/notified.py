"""The `notified` workflow (notified.yaml) as a module lockstep.yaml can register:
`workflows: {notified: {module: tests.machines.notified, notify: ...}}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

import tests.machines.harness  # noqa: F401  (registers the `die` action)
from lockstep import MachineState, RunContext, compile_machine, load_machine
from lockstep.errors import RequestError

MACHINE = load_machine(Path(__file__).with_name("notified.yaml"))


class NotifiedInput(TypedDict, total=False):
    steps: int


class NotifiedState(MachineState, NotifiedInput, total=False):
    done_steps: int


def starting(state: NotifiedState, runtime: Runtime[Any]) -> dict[str, Any]:
    return {"event": "started"}


def working(state: NotifiedState, runtime: Runtime[Any]) -> dict[str, Any]:
    done = int(state.get("done_steps") or 0) + 1
    event = "step_done" if done < int(state.get("steps") or 1) else "finished"
    return {"done_steps": done, "event": event}


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = compile_machine(
        MACHINE,
        NotifiedState,
        {"starting": starting, "working": working},
        context_schema=RunContext,
        input_schema=NotifiedInput,
    )
    return builder.compile(checkpointer=checkpointer, name="notified")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    steps = inputs.get("steps", 1)
    if set(inputs) - {"steps"} or not isinstance(steps, int) or steps < 1:
        raise RequestError(f"notified takes `steps` (a positive integer), got {inputs!r}")
    return dict(inputs)
