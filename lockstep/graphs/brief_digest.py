"""`brief_digest`: a finished policy brief summarised into a one-paragraph notice.

A small follow-up workflow, started by a `workflow_complete` trigger on `brief` with the
brief's final artifact ref as `brief` (see examples/lockstep.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from lockstep.agents.faults import retry_policy
from lockstep.errors import RequestError
from lockstep.machine import compile_machine, load_machine
from lockstep.nodes.context import RunContext
from lockstep.nodes.digest import summarising
from lockstep.state.digest import DigestInput, DigestOutput, DigestState

__all__ = ["MACHINE", "RESULT", "build_graph", "check_inputs", "graph"]

MACHINE = load_machine(Path(__file__).with_name("brief_digest.yaml"))
RESULT = "notice"
"""The artifact a finished run delivers (LangServe's `result`, the web page)."""


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = compile_machine(
        MACHINE,
        DigestState,
        {"summarising": summarising},
        context_schema=RunContext,
        input_schema=DigestInput,
        output_schema=DigestOutput,
        retry_policy=retry_policy(),
    )
    return builder.compile(checkpointer=checkpointer, name="brief_digest")


def check_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """`brief` must be an artifact ref ({id, version, sha256}); `topic` optional text."""
    unknown = set(inputs) - set(DigestInput.__annotations__)
    if unknown:
        raise RequestError(f"unknown input field(s) for brief_digest: {', '.join(sorted(unknown))}")
    ref = inputs.get("brief")
    if not (
        isinstance(ref, dict)
        and isinstance(ref.get("id"), str)
        and isinstance(ref.get("version"), int)
        and re.fullmatch(r"[0-9a-f]{64}", str(ref.get("sha256")))
    ):
        raise RequestError(f"brief must be an artifact ref {{id, version, sha256}}, got {ref!r}")
    topic = inputs.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise RequestError(f"topic must be text, got {topic!r}")
    payload: dict[str, Any] = {"brief": {k: ref[k] for k in ("id", "version", "sha256")}}
    if topic:
        payload["topic"] = topic
    return payload


graph = build_graph()
