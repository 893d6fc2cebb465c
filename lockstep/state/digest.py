"""State of the `brief_digest` workflow: a finished brief in, a one-paragraph notice out."""

from __future__ import annotations

from typing_extensions import TypedDict

from lockstep.state.machine import ArtifactRef, MachineState

__all__ = ["DigestInput", "DigestOutput", "DigestState"]


class DigestInput(TypedDict, total=False):
    """What a caller (usually a workflow_complete trigger) supplies."""

    brief: ArtifactRef
    """The finished brief: its `final` artifact (any thread's)."""
    topic: str
    """The brief's topic, for the notice; read from the brief's title when absent."""


class DigestState(MachineState, DigestInput, total=False):
    """Everything a digest thread carries."""

    notice: ArtifactRef | None
    """The one-paragraph notice (markdown)."""
    rejection_reason: str | None
    """Why the input could not be summarised (an unknown or non-text artifact)."""


class DigestOutput(TypedDict, total=False):
    status: str
    notice: ArtifactRef | None
    rejection_reason: str | None
