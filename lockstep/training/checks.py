"""The training design's checks, as code: objectives, alignment and accessibility.

A design is the JSON the `designing_assessments` step merges: objectives, assessment items,
activities and modules (HTML bodies). Each check returns the problems it found, as sentences
a designer can act on; an empty list means it passed.
"""

from __future__ import annotations

import re
from functools import cache
from html import unescape
from typing import Any

__all__ = [
    "BLOOM_VERBS",
    "accessibility_report",
    "alignment_gaps",
    "broken_links",
    "flesch_kincaid_grade",
    "objective_problems",
]

BLOOM_VERBS: dict[str, frozenset[str]] = {
    "remember": frozenset({"identify", "list", "recall", "define", "recognise", "name", "state"}),
    "understand": frozenset({"explain", "describe", "summarise", "classify", "interpret"}),
    "apply": frozenset({"apply", "use", "demonstrate", "follow", "complete", "carry"}),
    "analyze": frozenset({"distinguish", "compare", "differentiate", "examine", "analyse"}),
    "evaluate": frozenset({"assess", "judge", "evaluate", "justify", "decide", "critique"}),
    "create": frozenset({"design", "draft", "create", "plan", "compose", "develop"}),
}
"""Action verbs that fit each level of Bloom's taxonomy (revised), and so are measurable."""

_COLOURS = "red|green|blue|yellow|orange|purple|pink|grey|gray"
_COLOUR_ONLY = re.compile(
    rf"\b(?:in|marked|highlighted|coloured|colored|shown in)\s+(?:{_COLOURS})\b"
    rf"|\b(?:the\s+)?(?:{_COLOURS})\s+(?:button|box|text|item|option|link|field|area|row)s?\b",
    re.I,
)
_VAGUE_LINKS = {"click here", "here", "this link", "link", "read more", "more", "click"}
_TAG = re.compile(r"<[^>]+>")
_HEADING = re.compile(r"<h([1-6])\b", re.I)
_ANCHOR = re.compile(r"<a\b[^>]*>(.*?)</a>", re.I | re.S)
_HREF = re.compile(r"<a\b[^>]*?\bhref=\"([^\"]*)\"", re.I)
_ID = re.compile(r"\bid=\"([^\"]+)\"", re.I)
_EXTERNAL = re.compile(r"^(?:https?:|mailto:)", re.I)


def broken_links(design: dict[str, Any]) -> list[str]:
    """Links that lead nowhere in the package: `#x` needs an element with id x on the course
    page (a module, the quiz, or an id inside a module); other relative links need a file the
    package does not have. Web and mail links are left alone."""
    modules = design.get("modules", [])
    ids = {"quiz"} | {str(m.get("id")) for m in modules}
    ids |= {i for m in modules for i in _ID.findall(m.get("body", ""))}
    links = [
        (m.get("id", "?"), unescape(h)) for m in modules for h in _HREF.findall(m.get("body", ""))
    ]
    links += [
        (a.get("id", "?"), str(link.get("href", "")))
        for a in design.get("activities", [])
        for link in a.get("links", [])
    ]
    problems = []
    for owner, href in links:
        if _EXTERNAL.match(href):
            continue
        if not href.startswith("#") or href[1:] not in ids:
            problems.append(f"{owner}: link {href!r} points to nothing in the course")
    return problems


def objective_problems(objectives: list[dict[str, Any]]) -> list[str]:
    """Each objective needs a known Bloom level and an action verb of that level, first."""
    problems = []
    for obj in objectives:
        oid, level, verb = obj.get("id", "?"), obj.get("level", ""), obj.get("verb", "").lower()
        if level not in BLOOM_VERBS:
            problems.append(f"objective {oid} has unknown Bloom level {level!r}")
        elif verb not in BLOOM_VERBS[level]:
            problems.append(f"objective {oid}: verb {verb!r} does not fit level {level!r}")
        if not str(obj.get("text", "")).lower().startswith(verb or "\0"):
            problems.append(f"objective {oid} does not start with its verb {verb!r}")
    return problems


def alignment_gaps(design: dict[str, Any]) -> list[str]:
    """Every objective has an assessment item and an activity; every item maps to objectives."""
    objectives = {o["id"] for o in design.get("objectives", [])}
    gaps = objective_problems(design.get("objectives", []))
    for kind in ("assessments", "activities"):
        covered: set[str] = set()
        for item in design.get(kind, []):
            refs = item.get("objectives") or []
            if not refs:
                gaps.append(f"{kind[:-1]} {item.get('id', '?')} maps to no objective")
            for ref in refs:
                if ref not in objectives:
                    item_id = item.get("id", "?")
                    gaps.append(f"{kind[:-1]} {item_id} maps to unknown objective {ref}")
                covered.add(ref)
        for oid in sorted(objectives - covered):
            noun = "assessment item" if kind == "assessments" else "activity"
            gaps.append(f"objective {oid} has no {noun}")
    return gaps


@cache
def _hyphenator() -> Any:
    import pyphen  # bundled dictionaries: syllables offline (textstat needs a download)

    return pyphen.Pyphen(lang="en_US")


def flesch_kincaid_grade(text: str) -> float:
    """Flesch-Kincaid grade level: 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    words = re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)
    if not words:
        return 0.0
    sentences = max(1, len(re.findall(r"[.!?]+(?:\s|$)", text)))
    syllables = sum(max(1, _hyphenator().inserted(w.lower()).count("-") + 1) for w in words)
    grade = 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59
    return float(round(grade, 1))


def _text(html: str) -> str:
    return unescape(_TAG.sub(" ", html))


def _course_text(design: dict[str, Any]) -> str:
    parts = [_text(m.get("body", "")) for m in design.get("modules", [])]
    for item in design.get("assessments", []):
        parts += [item.get("stem", ""), *item.get("options", [])]
    parts += [a.get("instructions", "") for a in design.get("activities", [])]
    return "\n".join(parts)


def accessibility_report(design: dict[str, Any], reading_grade: float) -> dict[str, Any]:
    """Every accessibility check, each with its problems; `ok` when all pass."""
    media = [
        (a.get("id", "?"), m) for a in design.get("activities", []) for m in a.get("media", [])
    ] + [(m.get("id", "?"), x) for m in design.get("modules", []) for x in m.get("media", [])]
    checks: dict[str, list[str]] = {
        "alt_text": [
            f"{owner}: image {m.get('src', '?')} has no alt text"
            for owner, m in media
            if m.get("type") == "image" and not str(m.get("alt") or "").strip()
        ],
        "captions_or_transcript": [
            f"{owner}: {m.get('type')} {m.get('src', '?')} has no captions or transcript"
            for owner, m in media
            if m.get("type") in ("video", "audio")
            and not (m.get("captions") or m.get("transcript"))
        ],
        "no_colour_only_instructions": [],
        "heading_order": [],
        "reading_level": [],
        "link_text": [],
        "links_resolve": broken_links(design),
    }
    texts = [(m.get("id", "?"), m.get("body", "")) for m in design.get("modules", [])] + [
        (a.get("id", "?"), a.get("instructions", "")) for a in design.get("activities", [])
    ]
    for owner, text in texts:
        for match in _COLOUR_ONLY.finditer(_text(text)):
            checks["no_colour_only_instructions"].append(
                f"{owner}: {match.group(0)!r} relies on colour alone"
            )
        for anchor in _ANCHOR.findall(text):
            if _text(anchor).strip().lower() in _VAGUE_LINKS:
                checks["link_text"].append(f"{owner}: link text {_text(anchor).strip()!r}")
    for a in design.get("activities", []):
        for link in a.get("links", []):
            if str(link.get("text", "")).strip().lower() in _VAGUE_LINKS:
                checks["link_text"].append(f"{a.get('id', '?')}: link text {link.get('text')!r}")
    for module in design.get("modules", []):
        previous = 0
        for level in (int(h) for h in _HEADING.findall(module.get("body", ""))):
            if previous and level > previous + 1:
                checks["heading_order"].append(
                    f"{module.get('id', '?')}: h{level} follows h{previous}"
                )
            previous = level
    grade = flesch_kincaid_grade(_course_text(design))
    if grade > reading_grade:
        checks["reading_level"].append(
            f"Flesch-Kincaid grade {grade} is above the audience's {reading_grade:g}"
        )
    return {
        "ok": not any(checks.values()),
        "grade": grade,
        "checks": [{"name": k, "ok": not v, "problems": v} for k, v in checks.items()],
    }
