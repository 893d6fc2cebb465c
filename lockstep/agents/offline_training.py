"""The offline model's answers to the training prompts: objectives from the policies'
obligations (a reviewer's comment naming one replaces just that one), practice and quiz
items whose wrong answers are the policies' own misreadings, and activities. Deterministic:
the same prompt gives the same course."""

from __future__ import annotations

import re
from typing import Any

from lockstep.agents import reading
from lockstep.training.rules import Rule, misreadings, parse_rule

__all__ = ["activities", "assessments", "objectives"]

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
    for line in reading.tag(prompt, tag).splitlines():
        match = _OBJECTIVE_LINE.match(line.strip())
        if match:
            oid, level, text, quote = match.groups()
            items.append({"id": oid, "level": level, "text": text, "quote": quote})
    return items


def _policy_lines(prompt: str) -> list[dict[str, str]]:
    items = []
    for line in reading.tag(prompt, "policy").splitlines():
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


def objectives(prompt: str) -> dict[str, Any]:
    """One objective per strongest policy obligation, about one per ten minutes, spread over
    the policies. On a redesign the previous objectives stay unless the reviewer's comment
    names them (`O2`, `objective 2`): each named one is replaced by the obligation the
    comment's words match best (or the next unused one)."""
    evidence = [e for e in reading.evidence(prompt) if parse_rule(e["quote"])]
    try:
        minutes = int(reading.field(prompt, "Duration") or 30)
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
    return {"title": f"Annual training: {reading.field(prompt, 'Topic')}", "objectives": objectives}


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


def assessments(prompt: str) -> dict[str, Any]:
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


def activities(prompt: str) -> dict[str, Any]:
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
