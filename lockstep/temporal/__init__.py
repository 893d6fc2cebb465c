"""Temporal as lockstep's distributed engine (`engine: temporal`, `lockstep worker --engine
temporal`): one Temporal workflow per thread, one activity per LangGraph superstep run against
lockstep's own checkpointer, which stays the thread's source of truth. See
docs/ARCHITECTURE.md ("Engines") for the design and its measured cost.

Needs the `temporal` extra: `pip install 'lockstep[temporal]'`. The server and the triggers
submit through `lockstep.triggers.engine`, which uses `engine_for(client)` when the
configuration names this engine.
"""

from __future__ import annotations

from typing import Any

from lockstep.client import Lockstep
from lockstep.queue.config import QueueConfig
from lockstep.temporal.devserver import DevServer
from lockstep.temporal.engine import Submitted, TemporalEngine
from lockstep.temporal.types import WORKFLOW_NAME, GateAnswer, JobInput, StepResult
from lockstep.temporal.worker import run_worker, serve

__all__ = [
    "WORKFLOW_NAME",
    "DevServer",
    "GateAnswer",
    "JobInput",
    "StepResult",
    "Submitted",
    "TemporalEngine",
    "engine_for",
    "run_worker",
    "serve",
    "uses_temporal",
]


def uses_temporal(config: QueueConfig, override: str | None = None) -> bool:
    """Whether jobs go to Temporal: `--engine` when given, else the configuration's `engine:`."""
    return (override or config.engine.type) == "temporal"


def engine_for(
    client: Lockstep, config: QueueConfig | None = None, **engine: Any
) -> TemporalEngine:
    """The Temporal engine for `client`'s database and `config` (else the client's queue
    config); `engine` overrides fields of the `engine:` block (address, namespace, ...)."""
    config = config or client.queue.config
    if engine or config.engine.type != "temporal":
        decl = config.engine.model_copy(update={"type": "temporal", **engine})
        config = config.model_copy(update={"engine": decl})
    return TemporalEngine(client, config)
