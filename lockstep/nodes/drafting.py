"""The `drafting` step: one section of the outline (written by `outlining`) per step, then
assemble them into the draft.

A revision (after a failed verification or a reviewer's `revise`) is a single step that hands
the draft and the verification report to the reviser. Every model call goes through the
chat-model factory with the prompts in `lockstep.agents.prompts`.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from lockstep.agents.faults import TransientError
from lockstep.agents.prompts import REVISE, SECTION, format_evidence
from lockstep.nodes.context import RunContext, context_of, thread_of
from lockstep.research.checking import brief_titles
from lockstep.research.citations import normalise_ws, parse_citations
from lockstep.research.claims import MARKER
from lockstep.research.escape import prompt_safe
from lockstep.research.writer import dedupe_quotes
from lockstep.state.brief import BriefState
from lockstep.state.machine import refs

__all__ = ["assemble", "drafting", "evidence_items", "evidence_titles"]

_DEFINITION = re.compile(r"^\[\^([^\]\s]+)\]:")
_MARKER = MARKER


def evidence_items(ctx: RunContext, state: BriefState) -> list[dict[str, str]]:
    """The gathered quotes as numbered evidence (E1, E2, ...) in research order, without
    near-repeats (`writer.dedupe_quotes`). A title that an earlier source already claims is
    disambiguated with the file name, so a copied title cannot borrow another's standing."""
    research = state.get("research")
    if not research:
        return []
    report = ctx.artifacts.json(research)
    titles = brief_titles(report["sources"])
    items: list[dict[str, str]] = []
    for source in report["sources"]:
        for quote in source["quotes"]:
            items.append(
                {"source": source["key"], "title": titles[source["key"]], "quote": quote["text"]}
            )
    kept = dedupe_quotes(items)
    return [{"id": f"E{n}", **item} for n, item in enumerate(kept, start=1)]


def evidence_titles(ctx: RunContext, state: BriefState) -> dict[str, str]:
    """Source key → the title the brief names it by (what verification may strip as a name)."""
    return {e["source"]: e["title"] for e in evidence_items(ctx, state)}


def _completion(ctx: RunContext, messages: Any) -> str:
    """The model's text; an empty completion is a transient fault, retried by the node's
    RetryPolicy rather than written into the brief."""
    text = str(ctx.invoke(messages).content).strip()
    if not text:
        raise TransientError("the model returned an empty completion")
    return text


def _feedback(state: BriefState) -> str:
    comment = (state.get("feedback") or "").strip()
    return f"\nReviewer's comment to address: {comment}\n" if comment else ""


def drafting(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Do the next piece of drafting work and say which event it raised."""
    ctx = context_of(runtime)
    if state.get("needs_revision") and state.get("draft"):
        return _revise(state, ctx, thread_of(runtime))
    outline_ref = state.get("outline")
    if not outline_ref:  # the machine enters drafting only from outlining or with a draft
        raise RuntimeError("drafting needs an outline: the outlining step writes it first")
    outline = ctx.artifacts.json(outline_ref)
    done = state.get("sections") or []
    if len(done) < len(outline["sections"]):
        return _write_section(state, ctx, thread_of(runtime), outline, len(done))
    return _assemble(state, ctx, thread_of(runtime), outline)


def _write_section(
    state: BriefState, ctx: RunContext, thread: str, outline: dict[str, Any], index: int
) -> dict[str, Any]:
    plan = outline["sections"][index]
    by_id = {e["id"]: e for e in evidence_items(ctx, state)}
    evidence = [by_id[i] for i in plan["evidence"] if i in by_id]
    messages = SECTION.format_messages(
        topic=state["topic"],
        heading=plan["heading"],
        purpose=plan["purpose"],
        evidence=format_evidence(evidence),
        feedback=_feedback(state),
    )
    text = _completion(ctx, messages)
    ref = ctx.artifacts.put(
        thread,
        f"section-{index + 1}",
        f"## {plan['heading']}\n\n{text}\n",
        step="drafting",
        inputs=refs(state.get("outline")),
        format="markdown",
    )
    return {"event": "section_written", "sections": [*(state.get("sections") or []), ref]}


def assemble(title: str, sections: list[str]) -> str:
    """Join sections into one brief, renumbering footnotes globally and merging duplicates
    (same source and quote). Markers without a definition keep a number of their own, so
    verification reports them rather than losing them."""
    body_parts: list[str] = []
    definitions: dict[tuple[str, str], int] = {}
    lines_out: list[str] = []
    counter = 0
    for section in sections:
        local: dict[str, int] = {}
        body_lines = []
        lines = section.strip().splitlines()
        parsed = {c.line: c for c in parse_citations(section.strip())[0]}
        for number, line in enumerate(lines, start=1):
            if not _DEFINITION.match(line.strip()):
                body_lines.append(line)
                continue
            citation = parsed.get(number)
            if citation is None:  # malformed: kept as is, so verification reports it
                lines_out.append(line.strip())
                continue
            key = (citation.source, normalise_ws(citation.quote))
            if key not in definitions:
                counter += 1
                definitions[key] = counter
                rest = line.strip().split(":", 1)[1].strip()
                lines_out.append(f"[^{counter}]: {rest}")
            local[citation.label] = definitions[key]

        def renumber(m: re.Match[str], local: dict[str, int] = local) -> str:
            nonlocal counter
            if m.group(1) not in local:
                counter += 1
                local[m.group(1)] = counter
            return f"[^{local[m.group(1)]}]"

        body_parts.append(_MARKER.sub(renumber, "\n".join(body_lines)).strip())
    text = f"# {title}\n\n" + "\n\n".join(p for p in body_parts if p)
    return text + "\n\n---\n\n" + "\n".join(lines_out) + "\n"


def _assemble(
    state: BriefState, ctx: RunContext, thread: str, outline: dict[str, Any]
) -> dict[str, Any]:
    sections = [ctx.artifacts.text(ref) for ref in state.get("sections") or []]
    text = assemble(outline["title"], sections)
    inputs = refs(state.get("outline"), *(state.get("sections") or []))
    ref = ctx.artifacts.put(
        thread, "draft", text, step="drafting", inputs=inputs, format="markdown"
    )
    return {"event": "draft_complete", "draft": ref, "needs_revision": False}


def _revise(state: BriefState, ctx: RunContext, thread: str) -> dict[str, Any]:
    draft_ref, report_ref = state.get("draft"), state.get("report")
    assert draft_ref is not None, "revise is only reached with a draft"
    draft = ctx.artifacts.text(draft_ref)
    report = prompt_safe(ctx.artifacts.text(report_ref)) if report_ref else "{}"
    messages = REVISE.format_messages(
        topic=state["topic"],
        report=report,
        draft=draft,
        evidence=format_evidence(evidence_items(ctx, state)),
        feedback=_feedback(state),
    )
    text = str(ctx.invoke(messages).content).strip() + "\n"
    inputs = refs(draft_ref, report_ref)
    ref = ctx.artifacts.put(
        thread, "draft", text, step="drafting", inputs=inputs, format="markdown"
    )
    return {"event": "draft_complete", "draft": ref, "needs_revision": False, "feedback": None}
