"""The `outlining` step: plan the brief's sections from the gathered evidence, in one model call.

The outline is its own artifact (`outline`), written before the step decides: an outline with
too few evidence-backed sections asks for more research (`needs_more_research`, with the
sections' headings as extra queries) unless a person chose to proceed with what was found;
otherwise `outline_complete` hands it to drafting. The step is a single model call, so a crash or
a failed call re-runs it from the start (the artifact write is idempotent per content).
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from lockstep.agents.prompts import OUTLINE, Outline, format_evidence
from lockstep.nodes.context import context_of, thread_of
from lockstep.nodes.drafting import evidence_items
from lockstep.state.brief import BriefState
from lockstep.state.machine import refs

__all__ = ["MIN_BODY_SECTIONS", "aoutlining", "outlining"]

MIN_BODY_SECTIONS = 2
"""An outline with fewer evidence-backed sections (besides the summary) asks for more research."""


def outlining(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Plan the outline and say which event it raised (`outline_complete` or
    `needs_more_research`)."""
    ctx = context_of(runtime)
    thread = thread_of(runtime)
    evidence = evidence_items(ctx, state)
    messages = OUTLINE.format_messages(topic=state["topic"], evidence=format_evidence(evidence))
    planned = ctx.structured(Outline, messages)
    known = {e["id"] for e in evidence}
    sections = []
    for section in planned.sections:
        ids = [i for i in dict.fromkeys(section.evidence) if i in known]
        if ids:
            sections.append({**section.model_dump(), "evidence": ids})
    outline = {"title": planned.title or f"Policy brief: {state['topic']}", "sections": sections}
    ref = ctx.artifacts.put(
        thread, "outline", outline, step="outlining", inputs=refs(state.get("research"))
    )
    body = [s for s in sections if s["heading"].lower() != "summary"]
    if len(body) < MIN_BODY_SECTIONS and not state.get("proceed_anyway"):
        return {
            "event": "needs_more_research",
            "outline": None,
            "research_queue": None,
            "agent": None,
            "extra_queries": [f"{s['heading']} {s['purpose']}" for s in sections]
            or [f"{state['topic']} evidence data"],
        }
    return {"event": "outline_complete", "outline": ref, "sections": []}


async def aoutlining(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    """The async twin, for graphs driven with `astream`: LangGraph's `TimeoutPolicy` (the
    state's `timeout`) can only bound an async node. When it cuts the step short, the thread
    running the call is left to finish on its own; its update is discarded, and its outline
    artifact, if written, is the same version the retried step returns for the same content."""
    return await asyncio.to_thread(outlining, state, runtime)
