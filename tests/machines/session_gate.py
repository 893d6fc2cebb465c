"""The `session_gate` workflow (session_gate.yaml), registered by lockstep.yaml:
`workflows: {session_gate: {module: tests.machines.session_gate}}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from lockstep import MachineState, RunContext, compile_machine, load_machine

MACHINE = load_machine(Path(__file__).with_name("session_gate.yaml"))


def working(state: MachineState, runtime: Runtime[Any]) -> dict[str, Any]:
    return {"event": "worked"}


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = compile_machine(
        MACHINE, MachineState, {"working": working}, context_schema=RunContext
    )
    return builder.compile(checkpointer=checkpointer, name="session_gate")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return dict(inputs)
