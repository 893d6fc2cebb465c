"""The compliance-training workflow: the machine in `training.yaml` bound to its nodes.

`graph` is compiled without a checkpointer (for `langgraph.json`); `build_graph(checkpointer)`
is the factory the client, notebooks and the server use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import ValidationError

from lockstep.agents.faults import retry_policy
from lockstep.errors import RequestError
from lockstep.machine import compile_machine, load_machine
from lockstep.machine.compile import branch_node
from lockstep.nodes import training as steps
from lockstep.nodes.context import RunContext
from lockstep.source_limits import check_sources
from lockstep.state.training import TrainingInput, TrainingRequest, TrainingState

__all__ = ["MACHINE", "PARTIAL_WORK", "RESULT", "build_graph", "check_inputs", "graph"]

MACHINE = load_machine(Path(__file__).with_name("training.yaml"))
RESULT = "package"
"""The artifact a finished run delivers (LangServe's `result`, the web page)."""
PARTIAL_WORK = ("objectives", "assessments", "activities", "design")
"""State keys whose artifacts `abandon` saves as `incomplete` versions."""
NODES = {
    "intake": steps.intake,
    "designing_objectives": steps.designing_objectives,
    branch_node("designing_assessments", "assessments"): steps.design_assessments,
    branch_node("designing_assessments", "activities"): steps.design_activities,
    "designing_assessments": steps.designing_assessments,
    "alignment_check": steps.alignment_check,
    "accessibility_check": steps.accessibility_check,
    "exporting": steps.exporting,
}


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled training graph; transient model failures are retried per node."""
    builder = compile_machine(
        MACHINE,
        TrainingState,
        NODES,
        reviews=steps.REVIEWS,
        handlers=steps.HANDLERS,
        context_schema=RunContext,
        input_schema=TrainingInput,
        retry_policy=retry_policy(max_attempts=3, initial_interval=0.05),
    )
    return builder.compile(checkpointer=checkpointer, name="training")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Validate the request (every bad field named) and its policy folders before any work."""
    raw = {k: v for k, v in inputs.items() if v is not None}
    if isinstance(raw.get("sources"), str):
        raw["sources"] = [raw["sources"]]
    try:
        request = TrainingRequest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg'].lower()}" for e in exc.errors()
        )
        raise RequestError(f"invalid training request: {problems}") from None
    for folder in request.sources:
        check_sources(folder)  # names and sizes only: the run reads the documents
    return request.model_dump(mode="json")


graph = build_graph()
