"""Policy sentences read as rules: which sentences oblige someone, and their parts.

A course is built on obligations ("Staff must record every gift..."): a definition ("A bribe
is anything of value...") or a scope sentence ("This policy applies to...") is context, never
a rule to test. The misreadings here make quiz distractors out of the policies themselves:
a near-miss number or deadline, another actor, a duty turned into an option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Rule", "is_obligation", "misreadings", "near_numbers", "parse_rule"]

_MODALS = (
    r"must never|must not|shall not|shall never|may not|must|shall|"
    r"(?:is|are) required to|(?:is|are) prohibited from|(?:is|are) not (?:allowed|permitted) to|"
    r"(?:has|have) to|needs? to"
)
_RULE = re.compile(rf"^(?P<actor>.+?)\s+(?P<modal>{_MODALS})\s+(?P<duty>.+?)[.!]?$", re.I | re.S)
_DEFINITION = re.compile(
    r"\b(?:shall mean|means|is defined as|are defined as|refers? to|"
    r"(?:this|the) policy (?:applies|covers)|applies to|in this policy)\b",
    re.I,
)
_EVERYONE = {"you", "we", "staff", "all staff", "employees", "all employees", "everyone"}
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_WORDS = {w: n for n, w in enumerate(_NUMBER_WORDS.split())}
_NUMBER = re.compile(r"\b(\d+|" + "|".join(_WORDS) + r")\b(?=\s+\w)", re.I)
_TIMEFRAME = re.compile(
    r"\bwithin\s+\S+\s+(?:working\s+|calendar\s+|business\s+)?(?:hours?|days?|weeks?|months?)\b",
    re.I,
)


@dataclass(frozen=True)
class Rule:
    """An obligation split into who, how strongly, and what."""

    sentence: str
    actor: str
    modal: str
    duty: str

    @property
    def general(self) -> bool:
        """Whether the rule binds everyone (you, staff, employees) rather than one role."""
        return self.actor.lower() in _EVERYONE

    @property
    def negative(self) -> bool:
        return bool(re.search(r"\b(?:not|never|prohibited)\b", self.modal, re.I))

    def say(
        self, actor: str | None = None, modal: str | None = None, duty: str | None = None
    ) -> str:
        """The rule as one sentence, with any part replaced."""
        text = f"{actor or self.actor} {modal or self.modal} {duty or self.duty}".strip()
        return text[0].upper() + text[1:] + "."


def is_obligation(sentence: str) -> bool:
    """True for a sentence that obliges or forbids; false for definitions and scope."""
    if _DEFINITION.search(sentence) or sentence.strip().endswith("?"):
        return False
    return parse_rule(sentence) is not None


def parse_rule(sentence: str) -> Rule | None:
    """The rule's actor, modal and duty, or None when the sentence obliges no one."""
    text = " ".join(sentence.split())
    match = _RULE.match(text)
    if not match or len(match["actor"].split()) > 8:
        return None
    return Rule(text, match["actor"], match["modal"].lower(), match["duty"])


def near_numbers(value: int) -> list[int]:
    """Plausible wrong values for a number in a rule: double, then half (never x10)."""
    candidates = [value * 2, value // 2 if value > 3 else value + 2]
    return [c for i, c in enumerate(candidates) if c != value and c not in candidates[:i]]


def _with_number(rule: Rule, value: int) -> str | None:
    match = _NUMBER.search(rule.duty)
    if not match:
        return None
    word = match.group(1)
    text = str(value)
    if not word.isdigit():
        names = {n: w for w, n in _WORDS.items()}
        text = names.get(value, str(value))
    return rule.say(duty=rule.duty[: match.start(1)] + text + rule.duty[match.end(1) :])


def _number(rule: Rule) -> int | None:
    match = _NUMBER.search(rule.duty)
    if not match:
        return None
    word = match.group(1).lower()
    return int(word) if word.isdigit() else _WORDS[word]


def misreadings(rule: Rule, others: list[Rule]) -> list[str]:
    """Wrong versions of `rule`, most plausible first, drawn from it and the other rules:
    a near-miss number, another rule's deadline, another actor, the duty made optional."""
    out: list[str] = []
    value = _number(rule)
    if value is not None:
        out += [m for v in near_numbers(value) if (m := _with_number(rule, v))]
    own = _TIMEFRAME.search(rule.duty)
    if own:
        for other in others:
            theirs = _TIMEFRAME.search(other.duty)
            if theirs and theirs.group(0).lower() != own.group(0).lower():
                out.append(rule.say(duty=rule.duty.replace(own.group(0), theirs.group(0))))
                break
    if rule.general:
        roles = [o.actor for o in others if not o.general and not o.negative]
        if roles and not rule.negative:
            out.append(rule.say(actor=f"only {roles[0][0].lower()}{roles[0][1:]}"))
    else:
        out.append(rule.say(actor="each member of staff"))
    if rule.negative:
        out.append(rule.say(modal="may", duty=f"{rule.duty} if a manager agrees"))
    else:
        out.append(rule.say(modal="should, where possible,"))
    return list(dict.fromkeys(o for o in out if o != rule.say()))
