"""State of the compliance-training workflow, and its request (validated at the edge).

Designs live in the artifact store; state keeps their `ArtifactRef`s.
"""

from __future__ import annotations

import operator
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from lockstep.state.machine import ArtifactRef, MachineState

__all__ = ["TrainingInput", "TrainingRequest", "TrainingState"]


class TrainingRequest(BaseModel):
    """An annual compliance training to design (checked before any work starts)."""

    topic: str = Field(min_length=1, max_length=300, description="What the training covers.")
    audience: str = Field(min_length=1, max_length=200, description="Who takes it.")
    sources: list[str] = Field(min_length=1, description="Folders of the policies to cover.")
    duration: int = Field(gt=0, le=480, description="Length of the course in minutes.")
    deadline: date | None = Field(default=None, description="When the course must be live.")
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    reading_grade: float = Field(
        default=12.0, gt=0, le=20, description="Highest Flesch-Kincaid grade the audience reads."
    )


class TrainingInput(TypedDict, total=False):
    """What a caller supplies to start a training design (see `TrainingRequest`)."""

    topic: str
    audience: str
    sources: list[str]
    duration: int
    deadline: str | None
    language: str
    reading_grade: float


class TrainingState(MachineState, total=False):
    """Everything a training thread carries between steps."""

    topic: str
    audience: str
    sources: list[str]
    duration: int
    deadline: str | None
    language: str
    reading_grade: float
    request: ArtifactRef
    """The validated request, stored as the first artifact."""
    rejection_reason: str | None
    """Why intake rejected the request (the invalid fields), when it did."""
    objectives: ArtifactRef | None
    """The current learning objectives (approved at the first gate)."""
    assessments: ArtifactRef | None
    """Assessment items from the assessment designer branch."""
    activities: ArtifactRef | None
    """Activities from the activity designer branch."""
    design: ArtifactRef | None
    """The merged course design (objectives, modules, items, activities)."""
    findings: list[str]
    """Gaps or accessibility issues the last check found, fed back to the designers."""
    branch_log: Annotated[list[str], operator.add]
    """Which design branches ran (both write it in the same step: merged by the reducer)."""
    feedback: str | None
    """A reviewer's comment for the next design pass."""
    escalated_from: str | None
    """Which part escalated (objectives, design, final): where an `extend` returns to."""
    package: ArtifactRef | None
    """The SCORM 1.2 zip."""
