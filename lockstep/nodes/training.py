"""The compliance-training steps: plain functions returning an update and the event raised.

The designers call the chat model through the same factory as the brief; every check after
them is code (`lockstep.training.checks`), and the package is built and checked in code too.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from lockstep.agents.prompts import (
    ACTIVITIES,
    ASSESSMENTS,
    OBJECTIVES,
    ActivitySet,
    AssessmentSet,
    ObjectiveSet,
    format_evidence,
    format_objectives,
    format_policy,
)
from lockstep.errors import SourcesError
from lockstep.nodes.context import RunContext, context_of, thread_of
from lockstep.research.corpus import load_corpus
from lockstep.research.quotes import sentences
from lockstep.research.ranking import rank_documents, rank_quotes
from lockstep.state.machine import refs
from lockstep.state.training import TrainingRequest, TrainingState
from lockstep.training.checks import accessibility_report, alignment_gaps
from lockstep.training.course import module
from lockstep.training.rules import is_obligation
from lockstep.training.scorm import build_package, package_problems

__all__ = [
    "accessibility_check",
    "alignment_check",
    "design_activities",
    "design_assessments",
    "designing_assessments",
    "designing_objectives",
    "exporting",
    "intake",
]

REQUEST_FIELDS = ("topic", "audience", "sources", "duration", "deadline", "language")


def intake(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Confirm the request's constraints and store it as the first artifact."""
    from pydantic import ValidationError

    raw = {k: state.get(k) for k in (*REQUEST_FIELDS, "reading_grade") if state.get(k) is not None}
    try:
        request = TrainingRequest.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        return {"event": "invalid", "rejection_reason": f"invalid request fields: {fields}"}
    ctx = context_of(runtime)
    data = request.model_dump(mode="json")
    ref = ctx.artifacts.put(thread_of(runtime), "request", data, step="intake")
    return {"event": "validated", "request": ref, **data}


REQUIREMENT_TERMS = "must never not required report record declare approve refuse within"
"""Words that mark a policy requirement: objectives are built on duties, not on background."""
_PURPOSE = re.compile(
    r"\b(?:can|could|because|helps?|so that|protects?|risks?|sway|affect|look like|trust)\b", re.I
)


def _why(doc_sentences: list[str]) -> str:
    """The document's sentence that best says why its rules exist (context, not a rule)."""
    context = [s for s in doc_sentences if not is_obligation(s)]
    purposeful = [s for s in context if _PURPOSE.search(s)]
    return (purposeful or context or [""])[0]


def _evidence(state: TrainingState, per_document: int = 6) -> list[dict[str, str]]:
    """The policy obligations most relevant to the topic, numbered E1, E2, ...; definitions
    and scope sentences are left out (they are context: the `why` of each item)."""
    query = f"{state['topic']} {REQUIREMENT_TERMS}"
    items: list[dict[str, str]] = []
    for root in state.get("sources") or []:
        try:
            docs, _ = load_corpus(root)
        except SourcesError:
            continue
        for doc, _score in rank_documents(docs, state["topic"]):
            quotes = sentences(doc)
            rules = [q for q in quotes if is_obligation(q.text)]
            why = _why([q.text for q in quotes])
            for quote, _ in rank_quotes(rules, query, k=per_document) if rules else []:
                items.append(
                    {"id": f"E{len(items) + 1}", "source": doc.path, "title": doc.title,
                     "quote": " ".join(quote.text.split()), "why": why}
                )  # fmt: skip
    return items


def _feedback(state: TrainingState) -> str:
    comment = (state.get("feedback") or "").strip()
    return f"\nReviewer's comment to address: {comment}\n" if comment else ""


def designing_objectives(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Measurable objectives from the policies, each with its Bloom level and source quote."""
    ctx = context_of(runtime)
    evidence = _evidence(state)
    previous = _objectives(ctx, state)["objectives"] if state.get("objectives") else []
    messages = OBJECTIVES.format_messages(
        topic=state["topic"],
        audience=state["audience"],
        duration=state["duration"],
        evidence=format_evidence(evidence),
        previous=format_objectives(previous) if previous else "none",
        feedback=_feedback(state),
    )
    planned = ctx.structured(ObjectiveSet, messages)
    by_id = {e["id"]: e for e in evidence}
    objectives = [
        {
            **o.model_dump(),
            "quote": by_id[o.evidence]["quote"],
            "source": by_id[o.evidence]["source"],
            "policy": by_id[o.evidence]["title"],
            "why": by_id[o.evidence]["why"],
        }
        for o in planned.objectives
        if o.evidence in by_id
    ]
    doc = {"title": planned.title, "objectives": objectives, "feedback": state.get("feedback")}
    ref = ctx.artifacts.put(
        thread_of(runtime), "objectives", doc, step="designing_objectives",
        inputs=refs(state.get("request"), state.get("objectives")),
    )  # fmt: skip
    return {"event": "objectives_ready", "objectives": ref, "findings": [], "feedback": None}


def _objectives(ctx: RunContext, state: TrainingState) -> dict[str, Any]:
    ref = state.get("objectives")
    assert ref is not None, "designs start from approved objectives"
    objectives: dict[str, Any] = ctx.artifacts.json(ref)
    return objectives


def _design_messages(template: Any, ctx: RunContext, state: TrainingState) -> Any:
    return template.format_messages(
        topic=state["topic"],
        audience=state["audience"],
        objectives=format_objectives(_objectives(ctx, state)["objectives"]),
        findings="\n".join(state.get("findings") or []) or "none",
        policy=format_policy(_evidence(state)),
        feedback=_feedback(state),
    )


def design_assessments(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Branch: the assessment designer (runs beside the activity designer)."""
    ctx = context_of(runtime)
    result = ctx.structured(AssessmentSet, _design_messages(ASSESSMENTS, ctx, state))
    ref = ctx.artifacts.put(
        thread_of(runtime), "assessments", [i.model_dump() for i in result.items],
        step="designing_assessments", inputs=refs(state.get("objectives")),
    )  # fmt: skip
    return {"assessments": ref, "branch_log": ["assessments"]}


def design_activities(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Branch: the activity designer (runs beside the assessment designer)."""
    ctx = context_of(runtime)
    result = ctx.structured(ActivitySet, _design_messages(ACTIVITIES, ctx, state))
    ref = ctx.artifacts.put(
        thread_of(runtime), "activities", [a.model_dump() for a in result.activities],
        step="designing_assessments", inputs=refs(state.get("objectives")),
    )  # fmt: skip
    return {"activities": ref, "branch_log": ["activities"]}


def designing_assessments(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Merge both branches' designs into one course design (one module per objective)."""
    ctx = context_of(runtime)
    objectives = _objectives(ctx, state)
    assessments = ctx.artifacts.json(ref) if (ref := state.get("assessments")) else []
    activities = ctx.artifacts.json(ref) if (ref := state.get("activities")) else []
    design = {
        "title": objectives["title"],
        "language": state.get("language", "en"),
        "objectives": objectives["objectives"],
        "assessments": assessments,
        "activities": activities,
        "modules": [module(o, activities) for o in objectives["objectives"]],
    }
    ref = ctx.artifacts.put(
        thread_of(runtime), "design", design, step="designing_assessments",
        inputs=refs(state.get("objectives"), state.get("assessments"), state.get("activities")),
    )  # fmt: skip
    return {"event": "designs_ready", "design": ref, "feedback": None}


def _design(ctx: RunContext, state: TrainingState) -> dict[str, Any]:
    ref = state.get("design")
    assert ref is not None, "checks run on a merged design"
    design: dict[str, Any] = ctx.artifacts.json(ref)
    return design


def alignment_check(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Every objective assessed and practised; every item tied to a real objective."""
    ctx = context_of(runtime)
    gaps = alignment_gaps(_design(ctx, state))
    ctx.artifacts.put(
        thread_of(runtime), "alignment", {"ok": not gaps, "gaps": gaps},
        step="alignment_check", inputs=refs(state.get("design")),
    )  # fmt: skip
    if gaps:
        return {"event": "gaps_found", "findings": gaps, "escalated_from": "design"}
    return {"event": "aligned", "findings": []}


def accessibility_check(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Each accessibility check, listed in the report; any problem sends the design back."""
    ctx = context_of(runtime)
    report = accessibility_report(_design(ctx, state), float(state.get("reading_grade") or 12))
    ctx.artifacts.put(
        thread_of(runtime), "accessibility", report, step="accessibility_check",
        inputs=refs(state.get("design")),
    )  # fmt: skip
    problems = [p for check in report["checks"] for p in check["problems"]]
    if problems:
        return {"event": "issues_found", "findings": problems, "escalated_from": "design"}
    return {"event": "accessible", "findings": []}


def exporting(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    """The SCORM 1.2 zip, checked before it is stored, with lineage to what was approved."""
    ctx = context_of(runtime)
    thread = thread_of(runtime)
    data = build_package(_design(ctx, state), identifier=f"lockstep-{thread}")
    problems = package_problems(data)
    if problems:
        raise ValueError("SCORM package is malformed: " + "; ".join(problems))
    ref = ctx.artifacts.put(
        thread, "package", data, step="exporting", format="zip",
        inputs=refs(state.get("objectives"), state.get("design")),
    )  # fmt: skip
    return {"event": "exported", "package": ref}


def review_objectives(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx = context_of(runtime)
    return {
        "objectives": _objectives(ctx, state)["objectives"],
        "objectives_ref": state.get("objectives"),
    }


def review_design(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    ctx = context_of(runtime)
    design = _design(ctx, state)
    return {
        "title": design["title"],
        "objectives": [o["text"] for o in design["objectives"]],
        "assessments": len(design["assessments"]),
        "activities": len(design["activities"]),
        "design": state.get("design"),
    }


def review_escalation(state: TrainingState, runtime: Runtime[Any]) -> dict[str, Any]:
    return {
        "escalated_from": state.get("escalated_from"),
        "findings": state.get("findings") or [],
        "counters": state.get("counters") or {},
        "deadline": state.get("deadline"),
    }


def after_objectives(state: TrainingState, runtime: Runtime[Any], answer: Any) -> dict[str, Any]:
    if answer["decision"] == "rejected":
        return {"feedback": answer.get("comment"), "escalated_from": "objectives"}
    if answer["decision"] == "timeout":
        return {"escalated_from": "objectives"}
    return {}


def after_final(state: TrainingState, runtime: Runtime[Any], answer: Any) -> dict[str, Any]:
    decision = answer["decision"]
    if decision in ("rejected", "minor_changes"):
        return {"feedback": answer.get("comment"), "escalated_from": "final"}
    if decision == "timeout":
        return {"escalated_from": "final"}
    return {}


def after_escalation(state: TrainingState, runtime: Runtime[Any], answer: Any) -> dict[str, Any]:
    """`extend` grants another round: the exhausted loop's counter starts again."""
    if answer["decision"] != "extend":
        return {}
    counter = {"objectives": "objective_rounds", "design": "design_rounds", "final": "final_rounds"}
    name = counter.get(str(state.get("escalated_from")))
    update: dict[str, Any] = {"counters": {name: 0}} if name else {}
    if answer.get("comment"):
        update["feedback"] = answer["comment"]
    return update


REVIEWS = {
    "awaiting_objectives_approval": review_objectives,
    "awaiting_final_approval": review_design,
    "escalated": review_escalation,
}
HANDLERS = {
    "awaiting_objectives_approval": after_objectives,
    "awaiting_final_approval": after_final,
    "escalated": after_escalation,
}
