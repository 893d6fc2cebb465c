"""State of the policy-brief workflow: input, full and output schemas.

Large things (sources, outline, sections, drafts, reports) live in the artifact store; state
keeps their `ArtifactRef`s, so checkpoints stay small however long the brief grows.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from lockstep.state.machine import ArtifactRef, MachineState

__all__ = [
    "RESEARCH_MODES",
    "AgentProgress",
    "BriefInput",
    "BriefOutput",
    "BriefState",
    "QueuedSource",
]

RESEARCH_MODES = ("locked", "agent")
"""`locked`: the fixed ranking step; `agent`: a tool-using agent over the same corpus."""


class BriefInput(TypedDict):
    """What a caller supplies to start a brief."""

    topic: str
    """The question the brief answers (1 to 300 characters)."""
    sources: list[str]
    """Folders of .md, .txt and .html documents to research."""
    research_mode: NotRequired[str]
    """`locked` (default) or `agent` (see RESEARCH_MODES)."""


class AgentProgress(TypedDict):
    """Where the research agent is in its round: small, so each step's checkpoint stays small
    (tool results are truncated; the documents themselves are in the sources artifact)."""

    messages: list[dict[str, Any]]
    """The transcript so far (`messages_to_dict` form): prompt, model turns, tool results."""
    tool_calls: int
    """Tool calls executed this round, valid or not (the step budget counts these)."""
    finished: str | None
    """Why the agent stopped (its `done` reason, no more tool calls, the budget), or None."""


class QueuedSource(TypedDict):
    """A document ranked for research and waiting for its batch."""

    root: str
    path: str
    key: str
    score: float


class BriefState(MachineState, total=False):
    """Everything a brief thread carries between steps."""

    topic: str
    """The requested topic, as given."""
    sources: list[str]
    """Source folders: the request's, plus any a person added at a gate."""
    request: ArtifactRef
    """The validated request."""
    rejection_reason: str | None
    """Why the request was rejected, when it was."""
    research: ArtifactRef | None
    """The latest sources artifact (the research report: gathered sources, quotes, skips)."""
    gathered: list[str]
    """Keys of the sources gathered in this thread; only these may be cited."""
    research_queue: list[QueuedSource] | None
    """Documents still to read in this research round; None starts a new round."""
    research_started_at: str | None
    """When the current research round started (for the research time limit)."""
    research_mode: str
    """`locked` or `agent`: which research state the machine enters (a guard reads it)."""
    agent: AgentProgress | None
    """The research agent's round in agent mode; None starts a new round."""
    extra_queries: list[str]
    """Queries drafting asked research to cover (outline sections with thin evidence)."""
    proceed_anyway: bool
    """A person chose to proceed with the evidence at hand."""
    outline: ArtifactRef | None
    """The outline artifact; None means drafting plans one first."""
    sections: list[ArtifactRef]
    """Sections written so far for the current outline, in order."""
    draft: ArtifactRef | None
    """The latest draft."""
    report: ArtifactRef | None
    """The latest verification report."""
    needs_revision: bool
    """Drafting revises the draft against the report instead of writing afresh."""
    feedback: str | None
    """A reviewer's comment for the next revision."""
    final: ArtifactRef | None
    """The verified (or approved) final brief."""
    verified: bool | None
    """Whether the final brief passed citation verification: True when verification stored
    it, False when a person approved it at `human_review` despite failures (its artifact then
    has score 0.0 and opens with an "Unverified brief" banner). None before a final exists."""


class BriefOutput(TypedDict, total=False):
    """What a finished (or paused) run returns."""

    status: str
    rejection_reason: str | None
    error: str | None
    final: ArtifactRef | None
    verified: bool | None
    draft: ArtifactRef | None
    report: ArtifactRef | None
