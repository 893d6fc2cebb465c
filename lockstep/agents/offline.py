"""The offline model: a deterministic, extractive chat model that needs no network or key.

It is a real `BaseChatModel`, so the nodes call it exactly as they call ChatOpenAI (same
prompts, `with_structured_output`, usage metadata). It reads the `Task:` line and the tagged
material of lockstep's own prompts (see `prompts.py`) and builds its answer from the evidence
it was given: an outline by ranking evidence against the needs of a policy brief, sections by
quoting that evidence with footnotes, revisions by repairing or dropping failed citations.
It never emits canned content; with no evidence it writes nothing to cite.

With the research tools bound (`bind_tools`), it follows a deterministic tool-calling policy
read from the transcript: search the topic and a few angles on it, then fetch the first hits
and extract from the best documents, then call done. It reads only its own prompt and the
search results' document ids, so text inside a document cannot steer it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from lockstep.agents import reading
from lockstep.agents.offline_training import activities, assessments, objectives

__all__ = ["OfflineChatModel"]

_MARKER = re.compile(r"\[\^([A-Za-z0-9_-]+)\](?!:)")

# Angles the research agent searches besides the topic itself: what any brief needs.
_ANGLES = (
    "data findings evidence scale",
    "costs risks concerns effects",
    "requirements rules enforcement compliance",
    "options recommendations proposals",
)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class OfflineChatModel(BaseChatModel):
    """Deterministic extractive model for lockstep's prompts (the default, `offline`)."""

    delay: float = Field(default_factory=lambda: float(os.environ.get("LOCKSTEP_OFFLINE_DELAY", 0)))
    """Seconds each call waits, so the offline model can stand in for a slow remote one in
    demos and crash tests (`LOCKSTEP_OFFLINE_DELAY`). Zero by default."""

    @property
    def _llm_type(self) -> str:
        return "lockstep-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": "offline"}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay > 0:
            time.sleep(self.delay)
        prompt = "\n".join(str(m.content) for m in messages)
        task = reading.field(prompt, "Task")
        if task == "research" and kwargs.get("tools"):
            reply = _research(messages)
            return _with_usage(
                reply,
                prompt,
                json.dumps(reply.tool_calls) if reply.tool_calls else str(reply.content),
            )
        if task == "outline":
            result: Any = self._outline(prompt)
        elif task == "section":
            result = self._section(prompt)
        elif task == "revise":
            result = self._revise(prompt)
        elif task == "objectives":
            result = objectives(prompt)
        elif task == "assessments":
            result = assessments(prompt)
        elif task == "activities":
            result = activities(prompt)
        elif task == "digest":
            result = _digest(prompt)
        else:
            result = ""
        tools = kwargs.get("tools") or []
        if isinstance(result, dict):
            if tools:
                name = tools[0]["function"]["name"]
                call_id = "call_" + hashlib.sha256(prompt.encode()).hexdigest()[:12]
                message = AIMessage(
                    content="", tool_calls=[{"name": name, "args": result, "id": call_id}]
                )
            else:
                message = AIMessage(content=json.dumps(result))
        else:
            message = AIMessage(content=result)
        return _with_usage(
            message, prompt, json.dumps(result) if isinstance(result, dict) else result
        )

    # -- outline ---------------------------------------------------------------------------

    def _outline(self, prompt: str) -> dict[str, Any]:
        from lockstep.research.writer import plan

        return plan(reading.field(prompt, "Topic"), reading.evidence(prompt))

    # -- sections --------------------------------------------------------------------------

    def _section(self, prompt: str) -> str:
        from lockstep.research.writer import section

        return section(reading.field(prompt, "Section"), reading.evidence(prompt))

    # -- revision --------------------------------------------------------------------------

    def _revise(self, prompt: str) -> str:
        from lockstep.research.revision import revise

        try:
            report = json.loads(reading.tag(prompt, "report") or "{}")
        except json.JSONDecodeError:
            report = {}
        return revise(reading.tag(prompt, "draft"), report, reading.evidence(prompt))


def _with_usage(message: AIMessage, prompt: str, out: str) -> ChatResult:
    message.usage_metadata = {
        "input_tokens": _tokens(prompt),
        "output_tokens": _tokens(out),
        "total_tokens": _tokens(prompt) + _tokens(out),
    }
    message.response_metadata = {"model_name": "offline"}
    return ChatResult(generations=[ChatGeneration(message=message)])


# -- research (tool calling) ---------------------------------------------------------------

_RESEARCH_DOCS = 8
"""Documents the research policy extracts from."""
_RESEARCH_FETCHES = 2
"""Of those, the first ones it fetches (reads) before extracting."""
_HIT = re.compile(r"^\d+\. (.+?) \| ")


def _research(messages: list[BaseMessage]) -> AIMessage:
    """The next research turn, from the transcript alone: search the topic and angles on it
    (the brief's needs, or the extra queries drafting asked for), then fetch and extract
    from the best documents, then done."""
    human = next((str(m.content) for m in messages if isinstance(m, HumanMessage)), "")
    topic = reading.field(human, "Topic")
    extra = [q.strip() for q in reading.field(human, "Also cover").split(" | ") if q.strip()]
    if extra == ["(nothing else)"]:
        extra = []
    angles = extra or [f"{topic} {terms}" for terms in _ANGLES]
    queries = [topic, *angles]
    calls: list[dict[str, Any]] = [
        dict(c) for m in messages if isinstance(m, AIMessage) for c in m.tool_calls
    ]
    results = {m.tool_call_id: str(m.content) for m in messages if isinstance(m, ToolMessage)}
    names = {c["name"] for c in calls}
    if "done" in names:
        return AIMessage(content="Research is done.")
    planned: list[tuple[str, dict[str, Any]]]
    if "search" not in names:
        planned = [("search", {"query": q}) for q in queries]
    elif "extract" not in names:
        planned = _reading_plan(calls, results)
    else:
        extracted = len({c["args"].get("doc_id") for c in calls if c["name"] == "extract"})
        planned = [("done", {"reason": f"extracted evidence from {extracted} documents"})]
    if not planned:
        return AIMessage(content="No document matches the topic.")
    seed = hashlib.sha256("\n".join(str(m.content) for m in messages).encode()).hexdigest()
    tool_calls = [
        {"name": name, "args": args, "id": f"call_{seed[:8]}_{n}"}
        for n, (name, args) in enumerate(planned)
    ]
    return AIMessage(content="", tool_calls=tool_calls)


def _reading_plan(
    calls: list[dict[str, Any]], results: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """Fetch the first hits, extract from the best documents: the search hits taken in turn
    from each query's list (so every angle contributes), skipping documents with evidence."""
    lists: list[tuple[str, list[str]]] = []
    for call in calls:
        if call["name"] != "search" or call.get("id") not in results:
            continue
        hits = []
        for line in results[call["id"]].splitlines():
            match = _HIT.match(line)
            if match and "evidence kept:" not in line:
                hits.append(match.group(1))
        lists.append((str(call["args"].get("query", "")), hits))
    picked: dict[str, str] = {}
    for rank in range(max((len(h) for _, h in lists), default=0)):
        for query, hits in lists:
            if rank < len(hits) and hits[rank] not in picked and len(picked) < _RESEARCH_DOCS:
                picked[hits[rank]] = query
    plan: list[tuple[str, dict[str, Any]]] = []
    for n, (doc_id, query) in enumerate(picked.items()):
        if n < _RESEARCH_FETCHES:
            plan.append(("fetch", {"doc_id": doc_id}))
        plan.append(("extract", {"doc_id": doc_id, "query": query}))
    return plan


# -- compliance training -------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*\"'(])")


def _plain(text: str) -> str:
    """Markdown prose without footnote markers or emphasis, on one line."""
    return " ".join(_MARKER.sub("", text).replace("*", "").split())


def _digest(prompt: str) -> str:
    """A one-paragraph notice of a brief: its question, the first sentence of each summary
    paragraph (at most two) and the sections it covers, all taken from the brief."""
    brief = reading.tag(prompt, "brief")
    topic = reading.field(prompt, "Topic")
    sections: list[tuple[str, list[str]]] = []
    for block in re.split(r"^##\s+", brief, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        paragraphs = [
            _plain(p) for p in body.split("\n\n") if p.strip() and not p.strip().startswith("[^")
        ]
        sections.append((heading.strip(), [p for p in paragraphs if p]))
    parts = [f"A policy brief on \u201c{topic}\u201d is ready."]
    summary = sections[0][1] if sections else []
    for paragraph in summary[:2]:
        parts.append(_SENTENCE_END.split(paragraph)[0])
    covered = [heading.lower() for heading, _ in sections[1:]]
    if covered:
        parts.append(f"It covers {'; '.join(covered)}.")
    return " ".join(parts)
