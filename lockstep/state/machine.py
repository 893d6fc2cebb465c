"""State fields every lockstep workflow carries, so a checkpoint alone says where a thread is."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict

__all__ = [
    "MAX_LOG",
    "ArtifactRef",
    "Decision",
    "MachineState",
    "TransitionEntry",
    "add_usage",
    "append_log",
    "log_entry",
    "merge_counters",
    "refs",
    "total_tokens",
]

MAX_LOG = 10
"""Transition-log entries kept in state: the tail that guards, gates and `status` read. The
whole log is the audit table (every transition is journaled, numbered by `n`), so a
checkpoint's size does not grow with the thread's length (issue 18: a 500-entry log made a
1,000-step thread store 30 MB and `history` 300x slower)."""

TransitionEntry = TypedDict(
    "TransitionEntry",
    {"from": str, "event": str, "to": str, "at": str, "n": NotRequired[int]},
)
"""One taken transition: `from --event--> to` at an ISO-8601 UTC time; `n` numbers the
thread's transitions from 1 (its place in the whole log, which outlives the state's tail)."""


class ArtifactRef(TypedDict):
    """A pointer into the artifact store; state keeps these, never documents."""

    id: str
    version: int
    sha256: str


class Decision(TypedDict):
    """A person's answer at a human gate."""

    gate: str
    decision: str
    by: str
    comment: str | None
    at: str


def refs(*maybe: ArtifactRef | None) -> list[ArtifactRef]:
    """The references that are set, in order: lineage inputs from optional state fields."""
    return [r for r in maybe if r]


def log_entry(
    log: Sequence[Any] | None, source: str, event: str, target: str, at: str
) -> dict[str, Any]:
    """The entry for a transition taken after the entries in `log` (state's tail), numbered
    one after its last (an entry written before numbering counts as its place in the tail)."""
    tail = list(log or [])
    last = int(tail[-1].get("n") or len(tail)) if tail else 0
    return {"from": source, "event": event, "to": target, "at": at, "n": last + 1}


def append_log(
    left: list[TransitionEntry] | None, right: list[TransitionEntry] | None
) -> list[TransitionEntry]:
    """Append transitions, keeping the newest MAX_LOG so checkpoints stay bounded."""
    return ((left or []) + (right or []))[-MAX_LOG:]


def merge_counters(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Counters update key by key; a node sets a counter by returning its new value."""
    return {**(left or {}), **(right or {})}


def add_usage(
    left: dict[str, dict[str, int]] | None, right: dict[str, dict[str, int]] | None
) -> dict[str, dict[str, int]]:
    """LLM usage per step name ({input_tokens, output_tokens, calls}), summed as steps run."""
    out = {k: dict(v) for k, v in (left or {}).items()}
    for step, usage in (right or {}).items():
        mine = out.setdefault(step, {})
        for key, value in usage.items():
            mine[key] = mine.get(key, 0) + value
    return out


def total_tokens(usage: dict[str, dict[str, int]] | None) -> int:
    """Input plus output tokens over every step."""
    return sum(u.get("input_tokens", 0) + u.get("output_tokens", 0) for u in (usage or {}).values())


class MachineState(TypedDict, total=False):
    """The machine's bookkeeping, shared by every workflow's state schema."""

    status: str
    """The machine's current state name (set by the compiler after every step)."""
    transitions: Annotated[list[TransitionEntry], append_log]
    """Bounded log of taken transitions."""
    counters: Annotated[dict[str, int], merge_counters]
    """Guard counters such as `revision_count`, incremented by declared transitions."""
    decisions: Annotated[list[Decision], operator.add]
    """Every gate decision: who, when, what, with their comment."""
    error: str | None
    """Why the thread went to the error state, when it did."""
    usage: Annotated[dict[str, dict[str, int]], add_usage]
    """LLM tokens in and out and calls, per step name (the run's total is their sum)."""
    session_started: str
    """When the run's session (`timeouts.session`) started or was last resumed, ISO-8601."""
