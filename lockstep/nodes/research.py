"""The `researching` step: rank documents with BM25 and extract quotes with exact spans.

Only documents relevant to the topic are planned (`relevance.relevant`: most of the topic's
IDF weight, and a score near the best), copies of a document already read are skipped, and
only sentences that state something are quoted (`sentences(drop_directives=True)`).

A round is planned once (rank every document against the topic and any extra queries), then
read in batches of `batch_size`, one step and so one checkpoint per batch. The research report
(the `sources` artifact) gains a version per batch, so a crash loses at most one batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime

from lockstep.errors import SourcesError
from lockstep.nodes.context import RunContext, context_of, thread_of
from lockstep.research.corpus import load_corpus, read_document, source_key
from lockstep.research.quotes import sentences
from lockstep.research.ranking import index_for, rank_quotes
from lockstep.research.relevance import duplicate_of, relevant
from lockstep.state.brief import BriefState, QueuedSource

__all__ = ["research", "source_key"]


DEFAULT_ROUND_TIMEOUT = 600.0
"""Seconds a research round may run when its state declares no `timeout`."""


def research_report(state: BriefState, ctx: RunContext) -> dict[str, Any]:
    """The thread's `sources` report so far (both research modes extend the same one)."""
    research = state.get("research")
    if research:
        report: dict[str, Any] = ctx.artifacts.json(research)
        return report
    return {"topic": state["topic"], "rounds": 0, "sources": [], "skipped": []}


def _plan(state: BriefState, ctx: RunContext, report: dict[str, Any]) -> list[QueuedSource]:
    queries = [state["topic"], *(state.get("extra_queries") or [])]
    gathered = set(state.get("gathered") or [])
    skipped = {s["key"] for s in report["skipped"]}
    best: dict[str, QueuedSource] = {}
    for index, root in enumerate(state.get("sources") or []):
        try:
            docs, skips = load_corpus(root)
        except SourcesError as exc:
            report["skipped"].append({"key": root, "reason": str(exc)})
            continue
        for skip in skips:
            key = source_key(index, root, skip.path)
            if key not in skipped:
                report["skipped"].append({"key": key, "reason": skip.reason})
        ranker = index_for([f"{d.title}\n{d.text}" for d in docs], ctx.index_cache)
        on_topic = relevant(ranker, state["topic"])
        for query in queries:
            for i, score in ranker.rank(query):
                if i not in on_topic:
                    continue
                doc = docs[i]
                key = source_key(index, root, doc.path)
                if key in gathered or (key in best and best[key]["score"] >= score):
                    continue
                best[key] = {"root": root, "path": doc.path, "key": key, "score": float(score)}
    ranked = sorted(best.values(), key=lambda s: (-s["score"], s["key"]))
    return ranked[: ctx.max_sources]


def research(
    state: BriefState, runtime: Runtime[Any], *, timeout: float = DEFAULT_ROUND_TIMEOUT
) -> dict[str, Any]:
    """Plan a research round or read its next batch; raise the event that says what's next.

    `timeout` is the round's limit in seconds, the state's declared `timeout` (the graph binds
    it); the run context's `research_timeout` overrides it."""
    ctx = context_of(runtime)
    thread = thread_of(runtime)
    now = ctx.clock()
    report = research_report(state, ctx)
    queue = state.get("research_queue")
    started = state.get("research_started_at")
    update: dict[str, Any] = {}
    if queue is None:
        queue = _plan(state, ctx, report)
        report["rounds"] += 1
        started = now.isoformat()
        update["research_started_at"] = started
    elif started is None:
        started = now.isoformat()
        update["research_started_at"] = started
    else:
        limit = ctx.research_timeout or timeout
        if (now - datetime.fromisoformat(started)).total_seconds() > limit:
            return {"event": "timeout", **update}

    batch, rest = queue[: ctx.batch_size], queue[ctx.batch_size :]
    gathered = list(state.get("gathered") or [])
    query = " ".join([state["topic"], *(state.get("extra_queries") or [])])
    read = [
        (s["key"], s["sha256"], ctx.artifacts.blobs.get(s["sha256"]).decode("utf-8"))
        for s in report["sources"]
    ]
    for item in batch:
        ctx.acquire("search_api_calls")  # one fetch = one call, under the shared rate limit
        try:
            doc = read_document(item["root"], item["path"])
        except SourcesError as exc:
            report["skipped"].append({"key": item["key"], "reason": str(exc)})
            continue
        copy = duplicate_of(doc.text, doc.sha256, read)
        if copy is not None:
            report["skipped"].append({"key": item["key"], "reason": f"a copy of {copy}"})
            continue
        candidates = sentences(doc, drop_directives=True)
        quotes = rank_quotes(candidates, query, k=ctx.quotes_per_source)
        if not quotes:
            continue
        blob = ctx.artifacts.blobs.put(doc.text.encode("utf-8"))
        report["sources"].append(
            {
                "key": item["key"],
                "root": str(item["root"]),
                "path": item["path"],
                "title": doc.title,
                "sha256": blob,
                "score": round(item["score"], 4),
                "quotes": [
                    {"text": q.text, "start": q.start, "end": q.end, "score": round(float(s), 4)}
                    for q, s in quotes
                ],
            }
        )
        gathered.append(item["key"])
        read.append((item["key"], doc.sha256, doc.text))
    inputs = [state["request"]] if state.get("request") else []
    ref = ctx.artifacts.put(thread, "sources", report, step="researching", inputs=inputs)
    if rest:
        event = "batch_gathered"
    elif len(report["sources"]) >= ctx.min_sources:
        event = "sources_gathered"
    else:
        event = "insufficient_sources"
    return {
        **update,
        "event": event,
        "research": ref,
        "gathered": gathered,
        "research_queue": rest,
    }
