"""The Agent Protocol's documents as the LangGraph SDK reads them (`langgraph_sdk.schema`):
Assistant, Thread, ThreadState (with its tasks and their interrupts), Run, and the output of
a run (the thread's values, ending with `__interrupt__` at a gate, `__error__` on failure).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi import HTTPException

from lockstep.graphs import WORKFLOWS, workflow_module

__all__ = [
    "EPOCH",
    "RUN_STATUS",
    "assistant",
    "assistant_id",
    "interrupts_of",
    "jsonable",
    "output_of",
    "run_doc",
    "state_of",
    "workflow_of_assistant",
]

EPOCH = "2025-01-01T00:00:00+00:00"
"""When every assistant was 'created' (they are the shipped workflows, not stored)."""
NAMESPACE = uuid.UUID("0b5e0f3c-2f6b-4c36-9a35-6c0c6b1d7a11")
"""Assistant IDs are uuid5(NAMESPACE, workflow): the same on every server."""

RUN_STATUS = {
    "queued": "pending",
    "running": "running",
    "waiting_human": "interrupted",
    "succeeded": "success",
    "failed": "error",
    "dead_lettered": "error",
    "cancelled": "interrupted",
    "timed_out": "timeout",
}
"""A background run's status from its job's."""


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (models dumped, anything unknown as its text)."""
    return json.loads(json.dumps(value, default=_default))


def assistant_id(workflow: str) -> str:
    return str(uuid.uuid5(NAMESPACE, workflow))


def workflow_of_assistant(ident: str) -> str:
    """The workflow an assistant ID (or graph ID, as the SDK also allows) names."""
    for name in WORKFLOWS:
        if ident in (name, assistant_id(name)):
            return name
    raise HTTPException(
        404, f"unknown assistant {ident!r}: use one of {', '.join(sorted(WORKFLOWS))}"
    )


def assistant(workflow: str) -> dict[str, Any]:
    """One assistant per workflow; `graph_id` is the workflow's name."""
    doc = (workflow_module(workflow).__doc__ or "").strip().split("\n\n")[0]
    return {
        "assistant_id": assistant_id(workflow),
        "graph_id": workflow,
        "name": workflow,
        "description": " ".join(doc.split()) or None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "version": 1,
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def _interrupt(item: Any) -> dict[str, Any]:
    return {"value": jsonable(item.value), "id": str(item.id)}


def _checkpoint(thread_id: str, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable") or {}
    return {
        "thread_id": thread_id,
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def state_of(thread_id: str, snapshot: Any | None) -> dict[str, Any]:
    """A `StateSnapshot` as a ThreadState (an empty one before the thread's first run)."""
    if snapshot is None or snapshot.config is None:
        return {
            "values": {},
            "next": [],
            "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None,
                           "checkpoint_map": None},
            "metadata": {},
            "created_at": None,
            "parent_checkpoint": None,
            "tasks": [],
            "interrupts": [],
        }  # fmt: skip
    tasks = [
        {
            "id": task.id,
            "name": task.name,
            "error": None if task.error is None else f"{type(task.error).__name__}: {task.error}",
            "interrupts": [_interrupt(i) for i in task.interrupts],
            "checkpoint": None,
            "state": None,
            "result": jsonable(task.result) if task.result is not None else None,
        }
        for task in snapshot.tasks
    ]
    return {
        "values": jsonable(snapshot.values or {}),
        "next": list(snapshot.next),
        "checkpoint": _checkpoint(thread_id, snapshot.config),
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": _checkpoint(thread_id, snapshot.parent_config),
        "tasks": tasks,
        "interrupts": [i for task in tasks for i in task["interrupts"]],
    }


def interrupts_of(state: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A Thread's `interrupts`: the pending ones by task ID."""
    return {t["id"]: t["interrupts"] for t in state["tasks"] if t["interrupts"]}


def output_of(state: Mapping[str, Any], error: str | None = None) -> dict[str, Any]:
    """What `runs.wait` and `runs.join` answer: the thread's values, then `__interrupt__`
    when it waits at a gate (as LangGraph's server does), `__error__` when the run failed."""
    out = dict(state["values"])
    if state["interrupts"]:
        out["__interrupt__"] = state["interrupts"]
    if error:
        kind, _, message = error.partition(": ")
        out["__error__"] = {"error": kind, "message": message or kind}
    return out


def run_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "thread_id": row["thread_id"],
        "assistant_id": row["assistant_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "status": row["status"],
        "metadata": row["metadata"],
        "multitask_strategy": "reject",
        "kwargs": {},
        **({"cancel_reason": row["error"]} if row["status"] == "interrupted" else {}),
    }
