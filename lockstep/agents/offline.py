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

from lockstep.training.rules import Rule, misreadings, parse_rule

__all__ = ["OfflineChatModel"]

_EVIDENCE_LINE = re.compile(r"^\[(E\d+)\] (\{.*\})$")
_MARKER = re.compile(r"\[\^([A-Za-z0-9_-]+)\](?!:)")

# Angles the research agent searches besides the topic itself: what any brief needs.
_ANGLES = (
    "data findings evidence scale",
    "costs risks concerns effects",
    "requirements rules enforcement compliance",
    "options recommendations proposals",
)


def _tag(text: str, name: str) -> str:
    """The material between `<name>` and `</name>` on lines of their own (the system prompt
    mentions the tags inline, so a tag must be followed by a newline to open a block)."""
    match = re.search(rf"<{name}>\n(.*?)\n?</{name}>", text, re.S)
    return match.group(1) if match else ""


def _field(text: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def _evidence(text: str) -> list[dict[str, str]]:
    """The evidence items of a prompt: one `[E1] {json}` line each (see `format_evidence`)."""
    items = []
    for line in _tag(text, "evidence").splitlines():
        match = _EVIDENCE_LINE.match(line.strip())
        if not match:
            continue
        try:
            data = json.loads(match.group(2))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in _KEYS):
            items.append({"id": match.group(1), **{k: data[k] for k in _KEYS}})
    return items


_KEYS = ("source", "title", "quote")


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
        task = _field(prompt, "Task")
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
            result = _objectives(prompt)
        elif task == "assessments":
            result = _assessments(prompt)
        elif task == "activities":
            result = _activities(prompt)
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

        return plan(_field(prompt, "Topic"), _evidence(prompt))

    # -- sections --------------------------------------------------------------------------

    def _section(self, prompt: str) -> str:
        from lockstep.research.writer import section

        return section(_field(prompt, "Section"), _evidence(prompt))

    # -- revision --------------------------------------------------------------------------

    def _revise(self, prompt: str) -> str:
        from lockstep.research.revision import revise

        try:
            report = json.loads(_tag(prompt, "report") or "{}")
        except json.JSONDecodeError:
            report = {}
        return revise(_tag(prompt, "draft"), report, _evidence(prompt))


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
    topic = _field(human, "Topic")
    extra = [q.strip() for q in _field(human, "Also cover").split(" | ") if q.strip()]
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

_OBJECTIVE_LINE = re.compile(r'^\[(O\d+)\] \((\w+)\) (.+?) \| "(.*)"$')
_POLICY_LINE = re.compile(r'^\[(E\d+)\] (.+?) \| "(.*)" \| why: "(.*)"$')
_LEVELS = (
    ("apply", "apply", "Apply the rule that {clause} to a case at work"),
    ("understand", "explain", "Explain why {actor} {modal} {duty}"),
    ("analyze", "distinguish", "Distinguish the rule that {clause} from common misreadings"),
    ("remember", "identify", "Identify when {actor} {modal} {duty}"),
    ("evaluate", "assess", "Assess whether a case calls for the rule that {clause}"),
)
_NAMES = ("Priya", "Tom", "Amara", "Luis", "Mei", "Sam", "Jonas", "Fatima")
_STOP = frozenset(
    {"the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "that", "this",
     "should", "instead", "about", "rule", "objective", "module", "please", "make", "more",
     "less", "than", "from", "into", "its", "it", "is", "be", "not"}
)  # fmt: skip
_WHY = (
    (r"\breport", "Reporting quickly lets the Compliance Office act while the facts are fresh."),
    (r"\b(?:record|register)", "A written record shows later what happened and who decided."),
    (r"\b(?:declare|update)", "Declaring lets someone else judge a conflict before it counts."),
    (r"\b(?:approve|check|sign)", "A second person's check means nobody decides alone."),
    (
        r"\b(?:accept|refuse|offer)",
        "Gifts and payments can sway a decision, or look as if they did.",
    ),
    (r"\btake part", "Stepping back keeps decisions fair, and seen to be fair."),
)
_OBJECT = re.compile(r"\b(?:any|every|each)\s+(.+?)(?=\s+(?:to|within|before|from|in|that|while|"
                     r"will|matches|even)\b|,|$)")  # fmt: skip


def _objective_lines(prompt: str, tag: str = "objectives") -> list[dict[str, str]]:
    items = []
    for line in _tag(prompt, tag).splitlines():
        match = _OBJECTIVE_LINE.match(line.strip())
        if match:
            oid, level, text, quote = match.groups()
            items.append({"id": oid, "level": level, "text": text, "quote": quote})
    return items


def _policy_lines(prompt: str) -> list[dict[str, str]]:
    items = []
    for line in _tag(prompt, "policy").splitlines():
        match = _POLICY_LINE.match(line.strip())
        if match:
            eid, title, quote, why = match.groups()
            items.append({"id": eid, "title": title, "quote": quote, "why": why})
    return items


def _lower_first(text: str) -> str:
    first, _, rest = text.strip().partition(" ")
    if first[:1].isupper() and not first.isupper() and not any(c.isdigit() for c in first):
        first = first[0].lower() + first[1:]
    return f"{first} {rest}".strip().rstrip(".!?")


def _comment(prompt: str) -> str:
    match = re.search(r"^Reviewer's comment to address: (.*)$", prompt, re.M)
    return match.group(1).strip() if match else ""


def _named(comment: str, letter: str) -> list[int]:
    """Positions (0-based) a comment names: `O2`, `objective 2`, `module 2`, `Q2`..."""
    words = {"O": "objective", "M": "module", "Q": "question"}[letter]
    found = re.findall(rf"\b(?:{letter}|{words}\s*)(\d+)\b", comment, re.I)
    return sorted({int(n) - 1 for n in found if int(n) > 0})


def _overlap(comment: str, text: str) -> int:
    wanted = {w for w in re.findall(r"[a-z]+", comment.lower()) if w not in _STOP and len(w) > 2}
    words = set(re.findall(r"[a-z]+", text.lower()))
    return sum(1 for w in wanted if w in words or (w.endswith("s") and w[:-1] in words))


def _objective(n: int, rule: Rule, evidence_id: str) -> dict[str, Any]:
    level, verb, template = _LEVELS[(n - 1) % len(_LEVELS)]
    text = template.format(
        clause=_lower_first(rule.sentence),
        actor=_lower_first(rule.actor),
        modal=rule.modal,
        duty=rule.duty.rstrip(".!?"),
    )
    return {"id": f"O{n}", "text": text, "level": level, "verb": verb, "evidence": evidence_id}


def _objectives(prompt: str) -> dict[str, Any]:
    """One objective per strongest policy obligation, about one per ten minutes, spread over
    the policies. On a redesign the previous objectives stay unless the reviewer's comment
    names them (`O2`, `objective 2`): each named one is replaced by the obligation the
    comment's words match best (or the next unused one)."""
    evidence = [e for e in _evidence(prompt) if parse_rule(e["quote"])]
    try:
        minutes = int(_field(prompt, "Duration") or 30)
    except ValueError:
        minutes = 30
    count = max(2, min(6, minutes // 10))
    by_quote = {e["quote"]: e for e in evidence}
    chosen = [by_quote[p["quote"]] for p in _objective_lines(prompt, "previous")
              if p["quote"] in by_quote]  # fmt: skip
    if not chosen:
        sources: set[str] = set()
        for item in evidence:
            if item["source"] in sources and len(sources) < len({e["source"] for e in evidence}):
                continue
            chosen.append(item)
            sources.add(item["source"])
            if len(chosen) == count:
                break
    comment = _comment(prompt)
    if comment:
        named = [i for i in _named(comment, "O") if i < len(chosen)] or [len(chosen) - 1]
        for position in named:
            unused = [e for e in evidence if e not in chosen]
            if not unused:
                break
            best = max(unused, key=lambda e: _overlap(comment, e["quote"]))
            chosen[position] = best
    objectives = []
    for n, item in enumerate(chosen, start=1):
        rule = parse_rule(item["quote"])
        assert rule is not None
        objectives.append(_objective(n, rule, item["id"]))
    return {"title": f"Annual training: {_field(prompt, 'Topic')}", "objectives": objectives}


def _role(rule: Rule) -> str:
    return "a member of staff" if rule.general else _lower_first(rule.actor).removeprefix("a ")


def _situation(rule: Rule) -> str:
    match = _OBJECT.search(rule.duty)
    if not match:
        return "a task at work that this rule covers"
    thing = match.group(1).strip()
    return f"{'an' if thing[:1].lower() in 'aeiou' else 'a'} {thing}"


def _rules(prompt: str) -> list[tuple[Rule, dict[str, str]]]:
    return [(r, p) for p in _policy_lines(prompt) if (r := parse_rule(p["quote"]))]


def _context(prompt: str, quote: str) -> tuple[Rule, dict[str, str], list[Rule]]:
    """The rule an objective rests on, its policy line and the policies' other rules."""
    rules = _rules(prompt)
    mine = [(r, p) for r, p in rules if r.sentence == " ".join(quote.split())]
    rule, line = mine[0] if mine else (parse_rule(quote), {"title": "policy", "why": ""})
    if rule is None:
        rule = Rule(quote, "Staff", "must", quote)
    others = [r for r, _ in rules if r.sentence != rule.sentence]
    same = [r for r, p in rules if p["title"] == line["title"] and r.sentence != rule.sentence]
    return rule, line, same + [r for r in others if r not in same]


def _options(correct: str, wrong: list[str], seed: int) -> tuple[list[str], int]:
    position = seed % (len(wrong) + 1)
    return [*wrong[:position], correct, *wrong[position:]], position


def _item(
    kind: str, qid: str, obj: dict[str, str], rule: Rule, line: dict[str, str], others: list[Rule]
) -> dict[str, Any]:
    seed = int(qid[1:])
    name = _NAMES[seed % len(_NAMES)]
    misread = misreadings(rule, others)
    explanation = f'The {line["title"]} says: "{rule.sentence}"'
    if kind == "true-false":
        statement_true = seed % 2 == 1 or not misread
        statement = rule.say() if statement_true else misread[0]
        return {
            "id": qid, "objectives": [obj["id"]], "type": "true-false",
            "stem": f"True or false? {statement}", "options": ["True", "False"],
            "answer": 0 if statement_true else 1, "explanation": explanation,
        }  # fmt: skip
    if kind == "scenario":
        other_rule = [o.say() for o in others[:1]]
        wrong = [m for m in misread if not re.search(r"\d", m)][:2] + other_rule
        wrong = (wrong + misread)[:3] if len(wrong) < 3 else wrong
        stem = (
            f"{name}, {_role(rule)}, is dealing with {_situation(rule)}. "
            f"Which rule in the {line['title']} tells {name} what to do here?"
        )
    else:
        wrong = list(dict.fromkeys(misread + [o.say() for o in others[:1]]))[:3]
        stem = f"Which of these is exactly what the {line['title']} says? ({name} is checking.)"
    options, answer = _options(rule.say(), list(dict.fromkeys(wrong))[:3], seed)
    return {
        "id": qid, "objectives": [obj["id"]], "type": "choice", "stem": stem,
        "options": options, "answer": answer, "explanation": explanation,
    }  # fmt: skip


def _assessments(prompt: str) -> dict[str, Any]:
    """Two items per objective, cycling scenario / true-false / which-of-these; wrong options
    are misreadings built from the policies' own rules. A reviewer's comment that names an
    item (`Q3`) and a type (scenario, true/false, which) changes that item's type."""
    comment = _comment(prompt).lower()
    wanted = next(
        (k for k, w in (("true-false", "true"), ("scenario", "scenario"), ("which", "which"))
         if w in comment),
        None,
    )  # fmt: skip
    named = set(_named(comment, "Q"))
    kinds = ("scenario", "true-false", "which")
    items = []
    for i, obj in enumerate(_objective_lines(prompt)):
        rule, line, others = _context(prompt, obj["quote"])
        for j in range(2):
            k = 2 * i + j
            kind = wanted if wanted and k in named else kinds[k % len(kinds)]
            items.append(_item(kind, f"Q{k + 1}", obj, rule, line, others))
    return {"items": items}


def _activities(prompt: str) -> dict[str, Any]:
    """Per objective: the rule as a short title, why it exists (the policy's own reason and
    what the duty protects), an example at work and an unscored practice question."""
    activities = []
    for n, obj in enumerate(_objective_lines(prompt), start=1):
        rule, line, others = _context(prompt, obj["quote"])
        name = _NAMES[(n + 3) % len(_NAMES)]
        reason = next((w for pattern, w in _WHY if re.search(pattern, rule.duty, re.I)), "")
        why = " ".join(p for p in (line.get("why", ""), reason) if p) or rule.sentence
        duty = rule.duty.rstrip(".!?")
        does = f"makes sure not to {duty}" if rule.negative else f"makes sure to {duty}"
        if rule.negative and duty.startswith(("take ", "accept ", "offer ")):
            does = f"does not {duty}"
        title = ("Do not " if rule.negative else "") + duty
        wrong = misreadings(rule, others)[:2]
        options, answer = _options(rule.say(), wrong, n)
        activities.append(
            {
                "id": f"A{n}",
                "objectives": [obj["id"]],
                "title": title[0].upper() + title[1:],
                "instructions": "Read the example, then try the practice question.",
                "why": why,
                "scenario": f"{name}, {_role(rule)}, is dealing with {_situation(rule)}. "
                f"{name} {does}.",
                "question": f"{name} wants to check the rule. Which reading is right?",
                "options": options,
                "answer": answer,
                "explanation": f'The {line["title"]} says: "{rule.sentence}"',
                "media": [],
                "links": [],
            }
        )
    return {"activities": activities}


# -- brief digest --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*\"'(])")


def _plain(text: str) -> str:
    """Markdown prose without footnote markers or emphasis, on one line."""
    return " ".join(_MARKER.sub("", text).replace("*", "").split())


def _digest(prompt: str) -> str:
    """A one-paragraph notice of a brief: its question, the first sentence of each summary
    paragraph (at most two) and the sections it covers, all taken from the brief."""
    brief = _tag(prompt, "brief")
    topic = _field(prompt, "Topic")
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
