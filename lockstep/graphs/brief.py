"""The policy-brief workflow: the machine in `brief.yaml` bound to its node functions.

`graph` is compiled without a checkpointer (for `langgraph.json`/`langgraph dev`);
`build_graph(checkpointer)` is the factory the client, notebooks and the server use;
`build_graph(checkpointer, asynchronous=True)` the one async drivers (`AsyncLockstep`) use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from lockstep.agents.faults import retry_policy
from lockstep.errors import RequestError, SourcesError
from lockstep.machine import compile_machine, load_machine
from lockstep.machine.compile import NodeFn
from lockstep.nodes.agent_research import aagent_research, agent_research
from lockstep.nodes.brief_gates import HANDLERS, REVIEWS
from lockstep.nodes.context import RunContext
from lockstep.nodes.drafting import drafting
from lockstep.nodes.intake import intake
from lockstep.nodes.outlining import aoutlining, outlining
from lockstep.nodes.research import DEFAULT_ROUND_TIMEOUT, research
from lockstep.nodes.verification import verifying
from lockstep.source_limits import check_sources
from lockstep.state.brief import RESEARCH_MODES, BriefInput, BriefOutput, BriefState

__all__ = ["MACHINE", "RESULT", "build_graph", "check_inputs", "graph"]

MACHINE = load_machine(Path(__file__).with_name("brief.yaml"))
RESULT = "final"
"""The artifact a finished run delivers (LangServe's `result`, the web page)."""
PARTIAL_WORK = ("outline", "sections", "draft")
"""State keys whose artifacts `abandon` saves as `incomplete` versions (the work in progress)."""


def _round_limit(state: str) -> float:
    """A research state's declared `timeout`, bound into its node (nodes never import the
    machine that runs them)."""
    return MACHINE.states[state].timeout or DEFAULT_ROUND_TIMEOUT


NODES: dict[str, NodeFn] = {
    "requested": intake,
    "researching": partial(research, timeout=_round_limit("researching")),
    "agent_researching": partial(agent_research, timeout=_round_limit("agent_researching")),
    "outlining": outlining,
    "drafting": drafting,
    "verifying": verifying,
}
ASYNC_NODES: dict[str, Any] = {
    "agent_researching": partial(aagent_research, timeout=_round_limit("agent_researching")),
    "outlining": aoutlining,
}
"""Steps with an async twin, bound in graphs driven with `astream` so that LangGraph's
`TimeoutPolicy` can bound them (it cannot cancel a sync node)."""


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    *,
    asynchronous: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled brief graph, with `checkpointer` for resumable threads.

    `asynchronous=True` builds it for `astream` drivers: the agent research step runs its
    async twin under a `TimeoutPolicy` of the research time limit (`research_timeout` in the
    client's `settings`, else the machine's declared `timeout`), and outlining under its
    declared `timeout`."""
    timeouts: dict[str, float] = {}
    if asynchronous:
        limit = (settings or {}).get("research_timeout")
        for name in ASYNC_NODES:
            research = name.endswith("researching")
            seconds = (limit if research else None) or MACHINE.states[name].timeout
            if seconds:
                timeouts[name] = float(seconds)
    builder = compile_machine(
        MACHINE,
        BriefState,
        NODES,
        reviews=REVIEWS,
        handlers=HANDLERS,
        context_schema=RunContext,
        input_schema=BriefInput,
        output_schema=BriefOutput,
        retry_policy=retry_policy(),
        async_nodes=ASYNC_NODES if asynchronous else None,
        timeouts=timeouts,
    )
    return builder.compile(checkpointer=checkpointer, name="brief")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Checks made before any work starts: every sources folder exists and holds documents.
    (An empty or over-long topic is not an error here: the thread records it as `rejected`.)"""
    topic = inputs.get("topic", "")
    if topic is not None and not isinstance(topic, str):
        raise RequestError(f"topic must be a string, got {type(topic).__name__}")
    folders = inputs.get("sources") or []
    if isinstance(folders, str | os.PathLike):
        folders = [folders]
    if not isinstance(folders, list | tuple) or not all(
        isinstance(f, str | os.PathLike) for f in folders
    ):
        raise RequestError("sources must be a folder path or a list of folder paths")
    if not folders:
        raise SourcesError("no sources folder given: pass --sources DIR")
    for folder in folders:
        check_sources(folder)  # names and sizes only: the run reads the documents
    mode = inputs.get("research_mode") or "locked"
    if mode not in RESEARCH_MODES:
        raise RequestError(
            f"unknown research mode {mode!r}: use one of {', '.join(RESEARCH_MODES)}"
        )
    payload = {"topic": topic, "sources": [str(f) for f in folders]}
    if mode != "locked":
        payload["research_mode"] = mode
    return payload


graph = build_graph()
