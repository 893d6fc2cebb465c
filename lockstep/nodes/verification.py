"""The `verifying` step: citations checked by code against the sources gathered in this thread.

A draft that passes is stored as the `final` artifact with score 1.0 and state `verified`
True; one approved at `human_review` despite failures is not (see `brief_gates`)."""

from __future__ import annotations

import json
from typing import Any

from langgraph.runtime import Runtime

from lockstep.errors import SourcesError
from lockstep.nodes.context import RunContext, context_of, thread_of
from lockstep.nodes.drafting import evidence_titles
from lockstep.research.citations import verify
from lockstep.research.corpus import load_corpus
from lockstep.state.brief import BriefState

__all__ = ["thread_sources", "verifying"]


def thread_sources(ctx: RunContext, state: BriefState) -> tuple[dict[str, str], set[str]]:
    """Texts a draft may be checked against: gathered sources exactly as read (from their
    blobs), plus the other documents in the folders so that citing one of them is reported
    as 'not gathered' rather than 'unknown'."""
    from lockstep.nodes.research import source_key

    texts: dict[str, str] = {}
    for index, root in enumerate(state.get("sources") or []):
        try:
            docs, _ = load_corpus(root)
        except SourcesError:
            continue
        for doc in docs:
            texts[source_key(index, root, doc.path)] = doc.text
    gathered: set[str] = set()
    research = state.get("research")
    if research:
        for source in ctx.artifacts.json(research)["sources"]:
            texts[source["key"]] = ctx.artifacts.blobs.get(source["sha256"]).decode("utf-8")
            gathered.add(source["key"])
    return texts, gathered


def verifying(state: BriefState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Verify the draft; on success store it as the final brief."""
    ctx = context_of(runtime)
    thread = thread_of(runtime)
    draft_ref = state["draft"]
    assert draft_ref is not None
    draft = ctx.artifacts.text(draft_ref)
    texts, gathered = thread_sources(ctx, state)
    result = verify(draft, texts, gathered, evidence_titles(ctx, state))
    payload = result.to_dict()
    if result.ok and result.paragraphs == 0:
        payload["ok"] = False
        payload["failures"].append(
            {
                "kind": "uncited_paragraph",
                "message": "the draft has no body paragraphs",
                "label": None,
                "line": None,
            }
        )
    report = ctx.artifacts.put(
        thread,
        "verification",
        json.dumps(payload, indent=2),
        step="verifying",
        inputs=[draft_ref],
        format="json",
    )
    if payload["ok"]:
        final = ctx.artifacts.put(
            thread,
            "final",
            draft,
            step="verifying",
            inputs=[draft_ref, report],
            format="markdown",
            score=1.0,
        )
        return {"event": "passed", "report": report, "final": final, "verified": True}
    return {"event": "citations_failed", "report": report, "needs_revision": True}
