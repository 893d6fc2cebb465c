"""Typed state for lockstep workflows: the machine's own fields and each workflow's schema."""

from lockstep.state.machine import (
    ArtifactRef,
    Decision,
    MachineState,
    TransitionEntry,
    append_log,
    merge_counters,
)

__all__ = [
    "ArtifactRef",
    "Decision",
    "MachineState",
    "TransitionEntry",
    "append_log",
    "merge_counters",
]
