"""The research agent's tools over a brief's corpus: search, fetch, extract and done.

They are LangChain tools with pydantic arguments (unknown fields refused), bound to the model
with `bind_tools`. `run_tool_call` runs one call and always answers with a `ToolMessage`: an
unknown tool, invalid arguments or an unknown document come back as an error message
(`status="error"`) for the agent to correct, never as a crash. The agent only names documents
and queries: the quote text it keeps is always the document's own sentences with their spans
(`research/quotes.py`), so it cannot invent a quote for verification to accept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lockstep.artifacts.store import BlobStore, FsspecBlobStore
from lockstep.errors import SourcesError
from lockstep.research.corpus import Document, load_corpus, read_document, source_key
from lockstep.research.quotes import normalise_ws, sentences
from lockstep.research.ranking import index_for, rank_quotes
from lockstep.research.relevance import duplicate_of, relevant

__all__ = [
    "TOOL_NAMES",
    "DoneArgs",
    "ExtractArgs",
    "FetchArgs",
    "ResearchDesk",
    "SearchArgs",
    "research_tools",
    "run_tool_call",
]

SEARCH_HITS = 5
"""Documents a search lists."""
FETCH_SENTENCES = 12
"""Sentences `fetch` shows (the agent extracts the ones it needs; state stays small)."""
MAX_RESULT_CHARS = 2500
"""Longest tool result kept in the transcript."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchArgs(_Args):
    query: str = Field(min_length=1, max_length=500, description="Words to search the corpus for")


class FetchArgs(_Args):
    doc_id: str = Field(min_length=1, description="A document id from search results")


class ExtractArgs(_Args):
    doc_id: str = Field(min_length=1, description="A document id from search results")
    query: str = Field(
        min_length=1, max_length=500, description="What the sentences to keep should be about"
    )


class DoneArgs(_Args):
    reason: str = Field(min_length=1, max_length=500, description="Why research is complete")


@dataclass
class ResearchDesk:
    """One research step's view of the corpus and of the research report (the `sources`
    artifact, same schema as locked research); tools read the corpus and add to the report."""

    folders: list[str]
    topic: str
    report: dict[str, Any]
    blobs: BlobStore | FsspecBlobStore
    quotes_per_source: int = 5
    acquire: Callable[[str], Any] = field(default=lambda name: 0.0)
    """Takes one named rate-limit unit before a corpus call (`RunContext.acquire`)."""
    finished: str | None = None
    """Set by `done`: the agent's reason."""
    changed: bool = False
    """True once `extract` added quotes (the report needs a new version)."""
    index_cache: Path | None = None
    """Where corpus indexes are kept across processes (`RunContext.index_cache`)."""
    _docs: dict[str, tuple[str, Document]] | None = None
    _topic_scores: dict[str, float] | None = None
    _relevant: set[str] | None = None

    @property
    def docs(self) -> dict[str, tuple[str, Document]]:
        """Every readable document by its source key (with its folder); skips are reported."""
        if self._docs is None:
            self._docs = {}
            skipped = {s["key"] for s in self.report["skipped"]}
            for index, root in enumerate(self.folders):
                try:
                    docs, skips = load_corpus(root)
                except SourcesError as exc:
                    if root not in skipped:
                        self.report["skipped"].append({"key": root, "reason": str(exc)})
                    continue
                for skip in skips:
                    key = source_key(index, root, skip.path)
                    if key not in skipped:
                        self.report["skipped"].append({"key": key, "reason": skip.reason})
                for doc in docs:
                    self._docs[source_key(index, root, doc.path)] = (root, doc)
        return self._docs

    def _source(self, key: str) -> dict[str, Any] | None:
        return next((s for s in self.report["sources"] if s["key"] == key), None)

    def _document(self, doc_id: str) -> tuple[str, Document]:
        key = doc_id.strip()
        if key not in self.docs:
            raise ToolException(
                f"unknown doc_id {doc_id!r}: use an id exactly as search results list it"
            )
        root, doc = self.docs[key]
        source = self._source(key)
        if source is not None:  # read as it was first read, so quote spans stay true
            text = self.blobs.get(source["sha256"]).decode("utf-8")
            return root, Document(doc.path, source["title"], text, source["sha256"])
        try:
            return root, read_document(root, doc.path)
        except SourcesError as exc:
            raise ToolException(str(exc)) from None

    def _rank(self, query: str, k: int | None = None) -> list[tuple[str, float]]:
        """(source key, BM25 score) of the documents matching `query`, best first."""
        keys = list(self.docs)
        texts = tuple(f"{self.docs[key][1].title}\n{self.docs[key][1].text}" for key in keys)
        return [(keys[i], s) for i, s in index_for(texts, self.index_cache).rank(query, k)]

    def search(self, query: str) -> str:
        """List the documents that best match the query (id, title, score)."""
        self.acquire("search_api_calls")
        lines = []
        for n, (key, score) in enumerate(self._rank(query, SEARCH_HITS), start=1):
            doc = self.docs[key][1]
            line = f"{n}. {key} | {normalise_ws(doc.title)} | score {score:.2f}"
            source = self._source(key)
            if source is not None:
                line += f" | evidence kept: {len(source['quotes'])} quotes"
            lines.append(line)
        body = "\n".join(lines) or "no document matches; try other words"
        return f'<results query="{normalise_ws(query)}">\n{body}\n</results>'

    def fetch(self, doc_id: str) -> str:
        """Show a document's title and its first quotable sentences."""
        self.acquire("search_api_calls")
        _, doc = self._document(doc_id)
        quotes = sentences(doc)
        shown = [f"[S{n}] {q.text}" for n, q in enumerate(quotes[:FETCH_SENTENCES], start=1)]
        more = len(quotes) - len(shown)
        tail = (
            f"\n({more} more sentences; extract with a query to keep what matters)" if more else ""
        )
        body = "\n".join(shown) or "(no quotable sentences)"
        return (
            f'<document id="{doc_id.strip()}" title="{normalise_ws(doc.title)}">\n'
            f"{body}{tail}\n</document>"
        )

    def extract(self, doc_id: str, query: str) -> str:
        """Keep the document's sentences that best match the query as citable evidence."""
        self.acquire("search_api_calls")
        key = doc_id.strip()
        root, doc = self._document(key)
        ranked = rank_quotes(sentences(doc), query, k=self.quotes_per_source)
        if not ranked:
            return f'<quotes doc_id="{key}">\nno sentence matches; try other words\n</quotes>'
        source = self._source(key)
        if source is None:
            copy = self._copy_of(doc)
            if copy is not None:  # as locked research does: a copy adds no evidence
                if not any(s["key"] == key for s in self.report["skipped"]):
                    self.report["skipped"].append({"key": key, "reason": f"a copy of {copy}"})
                    self.changed = True
                return (
                    f'<quotes doc_id="{key}">\nnothing kept: this document is a copy of '
                    f"{copy}, whose evidence is already kept\n</quotes>"
                )
            source = {
                "key": key,
                "root": str(root),
                "path": doc.path,
                "title": doc.title,
                "sha256": self.blobs.put(doc.text.encode("utf-8")),
                "score": round(self._topic_score(key), 4),
                "quotes": [],
            }
            self.report["sources"].append(source)
        kept = {(q["start"], q["end"]) for q in source["quotes"]}
        new = [(q, s) for q, s in ranked if (q.start, q.end) not in kept]
        for quote, score in new:
            source["quotes"].append(
                {
                    "text": quote.text,
                    "start": quote.start,
                    "end": quote.end,
                    "score": round(score, 4),
                }
            )
        self.changed = self.changed or bool(new)
        lines = [f'- "{q.text}"' for q, _ in ranked]
        return (
            f'<quotes doc_id="{key}">\n' + "\n".join(lines) + "\n</quotes>\n"
            f"{len(new)} new, {len(source['quotes'])} kept from this document; "
            f"{len(self.report['sources'])} documents have evidence."
        )

    def on_topic(self) -> set[str]:
        """Keys of the documents relevant to the topic, by the threshold locked research
        uses (`relevance.relevant`). The agent may keep evidence from others (its own
        queries may reach further), but only these count towards the round's minimum, so an
        off-topic folder ends the round at the too-few-sources gate in both modes."""
        if self._relevant is None:
            keys = list(self.docs)
            texts = tuple(f"{self.docs[k][1].title}\n{self.docs[k][1].text}" for k in keys)
            ranker = index_for(texts, self.index_cache)
            self._relevant = {keys[i] for i in relevant(ranker, self.topic)}
        return self._relevant

    def _copy_of(self, doc: Document) -> str | None:
        """The key of a source with evidence that `doc` copies (sha256 or near-duplicate)."""
        kept = [
            (s["key"], s["sha256"], self.blobs.get(s["sha256"]).decode("utf-8"))
            for s in self.report["sources"]
        ]
        return duplicate_of(doc.text, doc.sha256, kept)

    def done(self, reason: str) -> str:
        """End research."""
        self.finished = normalise_ws(reason)
        return f"Research ends: {len(self.report['sources'])} documents have evidence."

    def _topic_score(self, key: str) -> float:
        """The document's BM25 score for the topic (what locked research ranks by)."""
        if self._topic_scores is None:
            self._topic_scores = dict(self._rank(self.topic))
        return self._topic_scores.get(key, 0.0)


def _invalid(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    ]
    return "invalid arguments: " + "; ".join(problems)


def research_tools(desk: ResearchDesk) -> list[BaseTool]:
    """The four tools over `desk`, each answering a bad call with an error ToolMessage."""
    specs: list[tuple[str, Callable[..., str], type[BaseModel]]] = [
        ("search", desk.search, SearchArgs),
        ("fetch", desk.fetch, FetchArgs),
        ("extract", desk.extract, ExtractArgs),
        ("done", desk.done, DoneArgs),
    ]
    return [
        StructuredTool.from_function(
            fn,
            name=name,
            description=fn.__doc__ or name,
            args_schema=schema,
            handle_tool_error=True,
            handle_validation_error=_invalid,
        )
        for name, fn, schema in specs
    ]


TOOL_NAMES = ("search", "fetch", "extract", "done")


def run_tool_call(tools: Mapping[str, BaseTool], call: Mapping[str, Any]) -> ToolMessage:
    """Execute one tool call; a call the tools cannot take comes back as an error message."""
    name, call_id = str(call.get("name") or ""), str(call.get("id") or "")
    args: Any = call.get("args")
    problem = None
    if call.get("invalid"):
        problem = f"invalid arguments: not a JSON object ({call.get('error') or 'unparsable'})"
    elif name not in tools:
        problem = f"unknown tool {name!r}: use one of {', '.join(TOOL_NAMES)}"
    elif not isinstance(args, dict):
        problem = "invalid arguments: expected a JSON object"
    if problem is not None:
        return ToolMessage(problem, tool_call_id=call_id, name=name, status="error")
    tool_call: ToolCall = {"name": name, "args": args, "id": call_id, "type": "tool_call"}
    result = tools[name].invoke(tool_call)
    if not isinstance(result, ToolMessage):  # pragma: no cover - a ToolCall input returns one
        result = ToolMessage(str(result), tool_call_id=call_id, name=name)
    if len(str(result.content)) > MAX_RESULT_CHARS:
        result.content = str(result.content)[:MAX_RESULT_CHARS] + "\n(truncated)"
    return result
