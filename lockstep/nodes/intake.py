"""The `requested` step: validate a brief request before any work is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from lockstep.nodes.context import context_of, thread_of
from lockstep.state.brief import RESEARCH_MODES, BriefState

__all__ = ["MAX_TOPIC_CHARS", "intake", "topic_problem"]

MAX_TOPIC_CHARS = 300


def topic_problem(topic: object) -> str | None:
    """Why a topic is unusable, or None."""
    if not isinstance(topic, str) or not topic.strip():
        return "topic is empty"
    if len(topic.strip()) > MAX_TOPIC_CHARS:
        return f"topic is {len(topic.strip())} characters; the limit is {MAX_TOPIC_CHARS}"
    return None


def intake(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Validate topic and source folders; store the request as the first artifact."""
    reason = topic_problem(state.get("topic"))
    sources = state.get("sources") or []
    if reason is None and not sources:
        reason = "no sources folder given"
    for folder in sources:
        if reason is None and not Path(folder).is_dir():
            reason = f"sources folder {folder!r} does not exist"
    mode = state.get("research_mode") or "locked"
    if reason is None and mode not in RESEARCH_MODES:
        reason = f"unknown research mode {mode!r}: use one of {', '.join(RESEARCH_MODES)}"
    if reason:
        return {"event": "invalid", "rejection_reason": reason}
    ctx = context_of(runtime)
    request = {"topic": state["topic"].strip(), "sources": [str(Path(s)) for s in sources]}
    ref = ctx.artifacts.put(thread_of(runtime), "request", request, step="requested")
    return {
        "event": "validated",
        "topic": request["topic"],
        "request": ref,
        "research_mode": mode,
        "research_queue": None,
        "agent": None,
        "gathered": [],
        "sections": [],
        "outline": None,
    }
