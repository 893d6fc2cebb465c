"""The brief's human gates: what each shows a reviewer, and what each decision changes.

Review functions run again when a gate resumes, so they only read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from lockstep.nodes.context import context_of, thread_of
from lockstep.research.escape import escape_markdown
from lockstep.state.brief import BriefState
from lockstep.state.machine import refs

__all__ = ["HANDLERS", "REVIEWS", "UNVERIFIED_BANNER"]


def _research_summary(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx = context_of(runtime)
    research = state.get("research")
    report = ctx.artifacts.json(research) if research else None
    agent = state.get("agent")
    return {
        "topic": state.get("topic"),
        "folders": state.get("sources") or [],
        "sources_found": len(report["sources"]) if report else 0,
        "min_sources": ctx.min_sources,
        "sources": [s["key"] for s in report["sources"]] if report else [],
        "skipped": report["skipped"] if report else [],
        "remaining": len(state.get("research_queue") or []),
        "research": state.get("research"),
        "research_mode": state.get("research_mode") or "locked",
        "agent_tool_calls": agent["tool_calls"] if agent else 0,
        "agent_finished": agent["finished"] if agent else None,
    }


def _entered_by(state: BriefState) -> str | None:
    """The event that brought the thread to where it is now."""
    log = state.get("transitions") or []
    return log[-1]["event"] if log else None


def _review_draft(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx = context_of(runtime)
    report_ref = state.get("report")
    report = ctx.artifacts.json(report_ref) if report_ref else {"failures": []}
    return {
        "topic": state.get("topic"),
        "draft": state.get("draft"),
        "report": state.get("report"),
        "revision_count": (state.get("counters") or {}).get("revision_count", 0),
        "failures": [f["message"] for f in report["failures"]][:20],
        "reason": "budget" if _entered_by(state) == "budget_exhausted" else "citations",
        "usage": state.get("usage") or {},
    }


def _after_missing_sources(
    state: BriefState, runtime: Runtime[Any], answer: Mapping[str, Any]
) -> dict[str, Any]:
    if answer["decision"] == "add_sources":
        folders = [*(state.get("sources") or []), str(answer["sources"])]
        return {"sources": folders, "research_queue": None, "agent": None, "outline": None}
    if answer["decision"] == "proceed":
        return {"proceed_anyway": True, "outline": None}
    return {}


def _after_timeout(
    state: BriefState, runtime: Runtime[Any], answer: Mapping[str, Any]
) -> dict[str, Any]:
    if answer["decision"] == "retry":
        return {"research_started_at": None}
    if answer["decision"] == "proceed":
        return {"proceed_anyway": True, "outline": None}
    return {}


UNVERIFIED_BANNER = (
    "> **Unverified brief.** Approved at human review by {by} although its citations did not "
    "pass verification ({problems}). Its footnotes may not say what the text claims; see the "
    "verification report{report}."
)
"""The banner an approved-but-unverified brief opens with (after its title)."""


def _with_banner(markdown: str, banner: str) -> str:
    lines = markdown.split("\n")
    at = 1 if lines and lines[0].startswith("# ") else 0
    return "\n".join([*lines[:at], "", banner, "", *lines[at:]]).lstrip("\n")


def _after_review(
    state: BriefState, runtime: Runtime[Any], answer: Mapping[str, Any]
) -> dict[str, Any]:
    if answer["decision"] == "approve" and state.get("draft"):
        ctx = context_of(runtime)
        draft = state["draft"]
        assert draft is not None
        text = ctx.artifacts.text(draft)
        report_ref = state.get("report")
        report = ctx.artifacts.json(report_ref) if report_ref else None
        verified = bool(report and report.get("ok")) and report_ref is not None
        by = str(answer.get("by") or "unknown")
        if not verified:
            failures = len(report["failures"]) if report else 0
            problems = f"{failures} problems" if report else "never verified"
            where = f" (artifact {report_ref['id']}@{report_ref['version']})" if report_ref else ""
            text = _with_banner(
                text,
                UNVERIFIED_BANNER.format(by=escape_markdown(by), problems=problems, report=where),
            )
        final = ctx.artifacts.put(
            thread_of(runtime),
            "final",
            text,
            step="human_review",
            created_by=by,
            format="markdown",
            inputs=refs(draft, report_ref),
            score=1.0 if verified else 0.0,
        )
        return {"final": final, "verified": verified}
    if answer["decision"] == "revise":
        return {"needs_revision": True, "feedback": answer.get("comment")}
    return {}


REVIEWS = {
    "human_input_needed": _research_summary,
    "research_timeout": _research_summary,
    "human_review": _review_draft,
}
HANDLERS = {
    "human_input_needed": _after_missing_sources,
    "research_timeout": _after_timeout,
    "human_review": _after_review,
}
