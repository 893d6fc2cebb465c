"""The offline writer's brief: sections found in the evidence, each opened by a synthesis.

Deterministic and extractive. `plan` groups the gathered quotes into sections by the key terms
they share (the terms of the topic itself are left out: every quote has them), headed by the
commonest phrase of each group; quotes that name options (should, recommend, propose...) form
an "Options" section and the quotes that match the topic best a "Summary". Every quote is used
once, near-identical quotes are dropped, and the number of sections follows the evidence.
`section` writes one section: a synthesis sentence (which sources agree or differ, and their
figures side by side), then each quote attributed to its title and file. Every sentence cites
the quotes it rests on and says nothing they do not, so the same verifier checks it.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from bm25s.stopwords import STOPWORDS_EN_PLUS
from rapidfuzz import fuzz

from lockstep.research.claims import numbers
from lockstep.research.escape import escape_markdown
from lockstep.research.ranking import Ranker, tokenize
from lockstep.research.relevance import topic_terms as topic_terms_of

__all__ = ["OPTIONS", "SUMMARY", "dedupe_quotes", "plan", "section"]

SUMMARY = "Summary"
OPTIONS = "Options"
MAX_SECTIONS = 6
PER_SECTION = 5
NEAR_DUPLICATE = 90
"""rapidfuzz token-set ratio at or above which two quotes say the same thing."""

_OPTION_CUES = re.compile(
    r"\b(should|recommends?|recommended|proposes?|proposed|options?|urges?|calls? for|"
    r"favou?rs?|supports?|opposes?|would (?:require|allow|introduce)|must)\b",
    re.I,
)
_CONTRA = re.compile(
    r"\b(oppose[sd]?|against|reject[sd]?|concerns?|risks?|harm[sa-z]*|however|unfair|"
    r"burden[sa-z]*|not|no|never|cannot|without)\b",
    re.I,
)
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_FIGURE = re.compile(r"[$€£]?\d+(?:[.,]\d+)*%?(?:\s+(?:per\s?cent|percent|million|billion))?")


def dedupe_quotes(items: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """`items` without quotes that nearly repeat an earlier one (rapidfuzz token-set ratio)."""
    kept: list[dict[str, str]] = []
    for item in items:
        text = item["quote"].lower()
        if any(fuzz.token_set_ratio(text, k["quote"].lower()) >= NEAR_DUPLICATE for k in kept):
            continue
        kept.append(item)
    return kept


def _stance(quote: str) -> str:
    return "differs" if _CONTRA.search(quote) else "agrees"


_FUNCTION_WORDS = frozenset(STOPWORDS_EN_PLUS) | frozenset(
    re.findall(
        r"\S+",
        # modal verbs, quantifiers and numerals
        "may might must shall can could would should also one two any every whether "
        # prepositions and conjunctions NLTK's list lacks, and legal-register adverbs
        "without within upon unless including include includes included across along "
        "among amongst toward towards via per except however therefore thus hence "
        "thereof therein thereto hereby herein hereunder whereas whereby either neither "
        "yet still already another",
    )
)
"""Words that head nothing: the ranking tokenizer keeps most of them (its stopword list is
33 words), so "you" and "may" would otherwise be the commonest terms of a licence's quotes."""


@lru_cache(maxsize=1)
def _function_stems() -> frozenset[str]:
    return frozenset(t for ts in tokenize(sorted(_FUNCTION_WORDS)) for t in ts)


def _stems(quotes: list[str]) -> dict[str, list[str]]:
    """Each lower-cased word of the quotes → its tokens (empty for a function word)."""
    words = sorted({w.lower() for q in quotes for w in _WORD.findall(q)})
    tokens = tokenize(words) if words else []
    return {w: [] if w in _FUNCTION_WORDS else t for w, t in zip(words, tokens, strict=True)}


def _heading(term: str, quotes: list[str], used: set[str]) -> str:
    """The commonest two-word phrase of the quotes that holds `term` (said at least twice),
    else the term's commonest word (a heading shows words, not stems: "licence", not
    "licenc"); never a heading already `used` (lower-cased)."""
    stems = _stems(quotes)
    pairs: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for quote in quotes:
        lowered = [w.lower() for w in _WORD.findall(quote)]
        words.update(w for w in lowered if term in stems[w])
        for a, b in itertools.pairwise(lowered):
            if (term in stems[a] or term in stems[b]) and stems[a] and stems[b]:
                pairs[f"{a} {b}"] += 1
    word = words.most_common(1)[0][0] if words else term
    candidates = [p for p, n in pairs.most_common() if n >= 2] + [word]
    candidates += [p for p, _ in pairs.most_common()] + [f"more on {word}"]
    phrase = next((c for c in candidates if c not in used), None)
    if phrase is None:
        phrase = next(f"{word} ({n})" for n in itertools.count(2) if f"{word} ({n})" not in used)
    return phrase[:1].upper() + phrase[1:]


def plan(topic: str, evidence: Sequence[dict[str, str]]) -> dict[str, Any]:
    """An outline (title, sections with heading, purpose, evidence ids) for `evidence`."""
    title = f"Policy brief: {topic}"
    items = dedupe_quotes(evidence)
    if not items:
        return {"title": title, "sections": []}
    tokens = tokenize([e["quote"] for e in items])
    # the topic's own terms (in the evidence's spelling: "licence" in the topic is "license"
    # in American-spelled sources) are in every quote, so they head nothing
    topic_terms = set(topic_terms_of(topic, {t for ts in tokens for t in ts}))
    topic_terms |= set(tokenize([topic])[0])
    # a bare number ("2024") heads nothing: the synthesis sets figures side by side instead
    terms = [{x for x in t if not x.isdigit()} - topic_terms - _function_stems() for t in tokens]
    free = list(range(len(items)))
    sections: list[dict[str, Any]] = []

    def take(indices: list[int], limit: int = PER_SECTION) -> list[int]:
        chosen: list[int] = []
        per_source: Counter[str] = Counter()
        for i in indices:
            if i in free and per_source[items[i]["source"]] < 2 and len(chosen) < limit:
                chosen.append(i)
                per_source[items[i]["source"]] += 1
        for i in chosen:
            free.remove(i)
        return chosen

    ranked = [i for i, _ in Ranker([e["quote"] for e in items]).rank(topic)] or free[:]
    summary = take(ranked, 3)
    options = take([i for i in free if _OPTION_CUES.search(items[i]["quote"])], 6)
    while len(sections) < MAX_SECTIONS - 2:
        counts: Counter[str] = Counter()
        spread: dict[str, set[str]] = {}
        for i in free:
            for term in terms[i]:
                counts[term] += 1
                spread.setdefault(term, set()).add(items[i]["source"])
        best = sorted(
            (t for t in counts if counts[t] >= 2 and len(spread[t]) >= 2),
            key=lambda t: (-len(spread[t]) * counts[t], t),
        )
        if not best:
            break
        term = best[0]
        chosen = take([i for i in free if term in terms[i]])
        used = {s["heading"].lower() for s in sections} | {SUMMARY.lower(), OPTIONS.lower()}
        heading = _heading(term, [items[i]["quote"] for i in chosen], used)
        purpose = f"What the sources say about {heading.lower()}."
        sections.append({"heading": heading, "purpose": purpose, "evidence": chosen})
    out: list[dict[str, Any]] = []
    if summary:
        purpose = "The evidence that bears most directly on the question."
        out.append({"heading": SUMMARY, "purpose": purpose, "evidence": summary})
    out += sections
    if len(options) >= 2:
        purpose = "The options the sources name, and who supports or opposes each."
        out.append({"heading": OPTIONS, "purpose": purpose, "evidence": options})
    for s in out:
        indices: list[int] = s["evidence"]
        s["evidence"] = [items[i]["id"] for i in indices]
    return {"title": title, "sections": out}


def _name(item: dict[str, str]) -> str:
    return f"{escape_markdown(item['title'])} ({escape_markdown(item['source'])})"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _verb(subjects: list[str], verb: str) -> str:
    """`verb` agreeing with one or more subjects (point/points, qualify/qualifies)."""
    if len(subjects) > 1:
        return verb
    return verb[:-1] + "ies" if verb.endswith("y") else verb + "s"


def _figures(quote: str) -> list[str]:
    return [m.group(0) for m in _FIGURE.finditer(quote) if numbers(m.group(0))][:2]


def _synthesis(heading: str, evidence: list[dict[str, str]]) -> list[str]:
    """The section's opening sentences, built from its evidence alone."""
    marks = [f"[^{n}]" for n in range(1, len(evidence) + 1)]
    by_source: dict[str, list[int]] = {}
    for n, item in enumerate(evidence):
        by_source.setdefault(item["source"], []).append(n)
    first = {s: evidence[ns[0]] for s, ns in by_source.items()}
    topic = escape_markdown(heading.lower()) if heading not in (SUMMARY, OPTIONS) else ""
    on = f"On {topic}, " if topic else ""
    agree = [
        s
        for s, ns in by_source.items()
        if all(_stance(evidence[n]["quote"]) == "agrees" for n in ns)
    ]
    differ = [s for s in by_source if s not in agree]

    def cite(sources: list[str]) -> str:
        return "".join(marks[n] for s in sources for n in by_source[s])

    out: list[str] = []
    if len(by_source) == 1:
        (only,) = by_source
        out.append(f"{on}{_name(first[only])} is the only source{cite([only])}.")
    elif agree and differ:
        out.append(
            f"{on}{_join([_name(first[s]) for s in agree])} {_verb(agree, 'point')} the same "
            f"way{cite(agree)}, while {_join([_name(first[s]) for s in differ])} "
            f"{_verb(differ, 'qualify')} or {_verb(differ, 'differ')}{cite(differ)}."
        )
    else:
        group = list(by_source)
        out.append(
            f"{on}{_join([_name(first[s]) for s in group])} point the same way{cite(group)}."
        )
    figures = [(n, f) for n, item in enumerate(evidence) for f in _figures(item["quote"])]
    if len({n for n, _ in figures}) >= 2:
        shown = figures[:4]
        parts = [
            f"{escape_markdown(f)} ({escape_markdown(evidence[n]['source'])})" for n, f in shown
        ]
        refs = "".join(dict.fromkeys(marks[n] for n, _ in shown))
        out.append(f"The figures side by side: {', '.join(parts)}{refs}.")
    return out


def _quoted(n: int, item: dict[str, str]) -> str:
    verb = "qualifies" if _stance(item["quote"]) == "differs" else "states"
    return f"{_name(item)} {verb}: “{escape_markdown(item['quote'])}”[^{n}]"


def section(heading: str, evidence: Sequence[dict[str, str]]) -> str:
    """One section's markdown (no heading): synthesis, quotes, footnote definitions."""
    items = list(evidence)
    if not items:
        return ""
    paragraphs = [" ".join(_synthesis(heading, items))]
    if heading == OPTIONS:
        for n, item in enumerate(items, start=1):
            verb = "opposes or qualifies" if _stance(item["quote"]) == "differs" else "supports"
            paragraphs.append(f"- {_name(item)} {verb}: “{escape_markdown(item['quote'])}”[^{n}]")
    else:
        for start in range(0, len(items), 2):
            pair = items[start : start + 2]
            paragraphs.append(" ".join(_quoted(start + k + 1, item) for k, item in enumerate(pair)))
    definitions = [
        f'[^{n}]: {escape_markdown(item["source"])} "{escape_markdown(item["quote"])}"'
        for n, item in enumerate(items, start=1)
    ]
    joiner = "\n" if heading == OPTIONS else "\n\n"
    body = paragraphs[0] + "\n\n" + joiner.join(paragraphs[1:])
    return body + "\n\n" + "\n".join(definitions) + "\n"
