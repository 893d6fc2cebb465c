"""Citations verified by code: quotes verbatim, whole, and saying what the brief says.

A brief cites with markdown footnotes. The body carries markers (`[^3]`); each definition
names a source (its path in the sources folder) and quotes it, with markdown characters
backslash-escaped (`research/escape.py`), which the parser undoes before comparing:

    [^3]: housing-market-study.md "About 64% of active listings are whole-home rentals."

`verify` is the one check the workflow, the CLI and the API run. Each failure names its
rule (`kind`), the footnote (`label`) and the text at fault. The rules:

- definitions: well formed, not duplicated, each referenced by a marker, each marker defined;
- quotes: the source exists and was gathered in this thread; the quote occurs in it verbatim
  (whitespace-insensitive); it is a whole sentence, or a clause-bounded span of at least
  `MIN_SPAN_WORDS` words that drops no negation of its sentence;
- body: every paragraph cites; every claim-bearing sentence carries a marker; the numbers,
  number words, months and negations of a cited sentence occur in its quotes; and most of its
  content words do (`claims.SUPPORT_THRESHOLD`).

No model is asked; every check is code.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lockstep.research.claims import (
    MARKER,
    SUPPORT_THRESHOLD,
    body_sentences,
    is_claim,
    negations,
    numbers,
    support,
)
from lockstep.research.corpus import Document, title_of
from lockstep.research.escape import escape_markdown, unescape_markdown
from lockstep.research.quotes import normalise_ws, sentences

__all__ = [
    "FAILURE_KINDS",
    "MIN_SPAN_WORDS",
    "Citation",
    "Failure",
    "VerificationReport",
    "body_paragraphs",
    "extract_quote_fix",
    "normalise_ws",
    "parse_citations",
    "verify",
]

FAILURE_KINDS = (
    "missing_definition",
    "malformed_definition",
    "duplicate_definition",
    "unreferenced_definition",
    "unknown_source",
    "source_not_gathered",
    "quote_not_found",
    "empty_quote",
    "partial_quote",
    "dropped_negation",
    "uncited_paragraph",
    "uncited_sentence",
    "number_not_in_quote",
    "negation_not_in_quote",
    "unsupported_claim",
)
MIN_SPAN_WORDS = 6
"""Fewest words a quote that is not a whole sentence must have (and it must be a clause)."""

_DEFINITION_START = re.compile(r"^\[\^([^\]\s]+)\]:(.*)$")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")
_CLAUSE_BEFORE = tuple(",;:(—–-")
_CLAUSE_AFTER = tuple(",;:)—–-.")


@dataclass(frozen=True)
class Citation:
    """Footnote `label` quoting `quote` (unescaped) from `source`, defined on `line`."""

    label: str
    source: str
    quote: str
    line: int


@dataclass(frozen=True)
class Failure:
    """One problem found by verification: `kind` (the rule, one of `FAILURE_KINDS`), the
    footnote `label`, the `line`, and the `text` at fault (a quote or a body sentence)."""

    kind: str
    message: str
    label: str | None = None
    line: int | None = None
    text: str | None = None


@dataclass
class VerificationReport:
    """The outcome of `verify`: `ok` only when there are no failures."""

    ok: bool
    citations: list[Citation] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    paragraphs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "paragraphs": self.paragraphs,
            "citations": [asdict(c) for c in self.citations],
            "failures": [asdict(f) for f in self.failures],
        }

    def to_markdown(self) -> str:
        verdict = "passed" if self.ok else f"failed ({len(self.failures)} problems)"
        lines = [
            f"# Citation check: {verdict}",
            "",
            f"{len(self.citations)} citations across {self.paragraphs} paragraphs.",
        ]
        if self.failures:
            lines.append("")
            for f in self.failures:
                where = f"line {f.line}: " if f.line else ""
                lines.append(f"- **{f.kind}** {where}{escape_markdown(f.message)}")
        return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 80) -> str:
    text = normalise_ws(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_definition(rest: str) -> tuple[str, str] | None:
    """(source, quote) of `SOURCE "QUOTE"`, both unescaped: the source runs to the first `"`
    not escaped by a backslash, the quote from there to the last `"`."""
    i = 0
    while i < len(rest):
        if rest[i] == "\\":
            i += 2
            continue
        if rest[i] == '"':
            break
        i += 1
    last = rest.rfind('"')
    if i >= len(rest) or last == i or rest[last + 1 :].strip():
        return None
    source = unescape_markdown(rest[:i].strip())
    return (source, unescape_markdown(rest[i + 1 : last])) if source else None


def parse_citations(markdown: str) -> tuple[list[Citation], list[Failure]]:
    """Footnote definitions of `markdown`, and the definitions that could not be parsed."""
    citations: list[Citation] = []
    failures: list[Failure] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(markdown.splitlines(), start=1):
        match = _DEFINITION_START.match(line.strip())
        if not match:
            continue
        label, rest = match.group(1), match.group(2).strip()
        parts = _split_definition(rest)
        if parts is None:
            failures.append(
                Failure(
                    "malformed_definition",
                    f'footnote [^{label}] is not of the form `[^{label}]: SOURCE "QUOTE"`',
                    label,
                    number,
                    rest,
                )
            )
            continue
        if label in seen:
            failures.append(
                Failure(
                    "duplicate_definition",
                    f"footnote [^{label}] is defined twice (lines {seen[label]} and {number})",
                    label,
                    number,
                    rest,
                )
            )
            continue
        seen[label] = number
        citations.append(Citation(label, parts[0], parts[1], number))
    return citations, failures


def _is_definition(line: str) -> bool:
    return bool(_DEFINITION_START.match(line.strip()))


def body_paragraphs(markdown: str) -> list[tuple[int, str]]:
    """(first line, text) of each body paragraph or list item: not a heading, rule, block
    quote (the brief's own banner) or footnote definition."""
    paragraphs: list[tuple[int, str]] = []
    start, lines = 0, list[str]()
    for number, line in enumerate([*markdown.splitlines(), ""], start=1):
        stripped = line.strip()
        structural = (
            not stripped
            or stripped.startswith(("#", ">"))
            or _is_definition(stripped)
            or re.fullmatch(r"(-{3,}|\*{3,}|_{3,})", stripped) is not None
        )
        item = _LIST_ITEM.match(stripped)
        if (structural or item) and lines:
            paragraphs.append((start, " ".join(lines)))
            lines = []
        if structural:
            continue
        if not lines:
            start = number
        lines.append(stripped[item.end() :] if item else stripped)
    return paragraphs


class _Source:
    """A source's text, normalised, with its sentence boundaries (for whole-quote checks)."""

    def __init__(self, key: str, text: str) -> None:
        self.text = normalise_ws(text)
        self.starts: set[int] = set()
        self.ends: set[int] = set()
        self.sentences: list[tuple[int, int]] = []
        cursor = 0
        doc = Document(key, "", text, "")
        for quote in sentences(doc, min_words=1, max_words=100_000, keep_markup=True):
            at = self.text.find(quote.text, cursor)
            if at < 0:
                continue
            self.starts.add(at)
            self.ends.add(at + len(quote.text))
            self.sentences.append((at, at + len(quote.text)))
            cursor = at + len(quote.text)

    def check(self, quote: str) -> tuple[str, str] | None:
        """None when `quote` is a whole sentence (or run of them) or a clause of enough words
        keeping its sentence's negations; else (rule, explanation)."""
        problem: tuple[str, str] | None = ("quote_not_found", "")
        at = self.text.find(quote)
        while at >= 0:
            end = at + len(quote)
            if at in self.starts and end in self.ends:
                return None
            problem = self._clause(quote, at, end)
            if problem is None:
                return None
            at = self.text.find(quote, at + 1)
        return problem

    def _clause(self, quote: str, at: int, end: int) -> tuple[str, str] | None:
        before = self.text[:at].rstrip()
        after = self.text[end:].lstrip()
        bounded_start = at in self.starts or before.endswith(_CLAUSE_BEFORE)
        bounded_end = end in self.ends or after.startswith(_CLAUSE_AFTER) or quote[-1] in ".;:,"
        if len(quote.split()) < MIN_SPAN_WORDS or not (bounded_start and bounded_end):
            return (
                "partial_quote",
                "is neither a whole sentence of its source nor a clause of "
                f"{MIN_SPAN_WORDS} or more words",
            )
        start, stop = next(((s, e) for s, e in self.sentences if s <= at and end <= e), (at, end))
        clause_before = re.split(r"[,;:()—–]", self.text[start:at])[-1]
        lost = (negations(clause_before) | negations(self.text[end:stop])) - negations(quote)
        if lost:  # a negation governing the quote, or an exception after it, was left out
            return ("dropped_negation", f"leaves out the negation {sorted(lost)} of its sentence")
        return None


def _check_quotes(
    citations: list[Citation],
    sources: Mapping[str, str],
    gathered: Collection[str] | None,
) -> list[Failure]:
    failures: list[Failure] = []
    loaded: dict[str, _Source] = {}
    for c in citations:
        quote = normalise_ws(c.quote)
        tag = f"footnote [^{c.label}]"

        def fail(kind: str, message: str, c: Citation = c, quote: str = quote) -> None:
            failures.append(Failure(kind, message, c.label, c.line, quote))

        if not quote:
            fail("empty_quote", f"{tag} quotes nothing from {c.source}")
        elif c.source not in sources:
            fail("unknown_source", f"{tag} cites {c.source}, which is not in the sources")
        elif gathered is not None and c.source not in gathered:
            fail("source_not_gathered", f"{tag} cites {c.source}, which research did not gather")
        else:
            if c.source not in loaded:
                loaded[c.source] = _Source(c.source, sources[c.source])
            problem = loaded[c.source].check(quote)
            if problem is not None and problem[0] == "quote_not_found":
                fail("quote_not_found", f'{tag}: "{_short(quote)}" does not appear in {c.source}')
            elif problem is not None:
                fail(problem[0], f'{tag}: "{_short(quote)}" {problem[1]} ({c.source})')
    return failures


def _names(source: str, titles: Mapping[str, str]) -> list[str]:
    """How a source may be named in prose: its title and its path, escaped and plain."""
    names = [source, escape_markdown(source)]
    if titles.get(source):
        names += [titles[source], escape_markdown(titles[source])]
    return sorted({n for n in names if n}, key=len, reverse=True)


def _check_body(
    markdown: str,
    citations: list[Citation],
    sound: list[Citation],
    defined: set[str],
    titles: Mapping[str, str],
) -> tuple[list[Failure], int]:
    by_label = {c.label: c for c in sound}
    failures: list[Failure] = []
    missing: set[str] = set()
    paragraphs = body_paragraphs(markdown)
    for line, text in paragraphs:
        labels = MARKER.findall(text)
        for label in labels:
            if label not in defined and label not in missing:
                missing.add(label)
                failures.append(
                    Failure(
                        "missing_definition",
                        f"footnote [^{label}] is used but never defined",
                        label,
                        line,
                    )
                )
        if not any(label in defined for label in labels):
            failures.append(
                Failure(
                    "uncited_paragraph",
                    f'paragraph "{_short(text, 60)}" cites no source',
                    None,
                    line,
                    text,
                )
            )
            continue
        names = {n for c in sound for n in _names(c.source, titles)}
        for sentence in body_sentences(text, names):
            failures += _check_sentence(sentence, line, by_label, titles)
    return failures, len(paragraphs)


def _check_sentence(
    sentence: str, line: int, by_label: Mapping[str, Citation], titles: Mapping[str, str]
) -> list[Failure]:
    cited = [by_label[label] for label in MARKER.findall(sentence) if label in by_label]
    plain = unescape_markdown(MARKER.sub("", sentence))
    # longest first across every cited source: a shared title that names other files
    # ("X, title shared with a-2.txt") goes whole before a shorter name inside it does
    names = {n for c in cited for n in _names(c.source, titles)}
    for name in sorted(names, key=lambda n: (-len(n), n)):
        plain = plain.replace(name, " ")
    if not cited:
        if MARKER.search(sentence) or not is_claim(plain):
            return []  # a marker without definition is reported once, as missing_definition
        return [
            Failure(
                "uncited_sentence", f'"{_short(sentence)}" cites no source', None, line, sentence
            )
        ]
    tag = "".join(f"[^{c.label}]" for c in cited)
    quotes = [normalise_ws(c.quote) for c in cited]
    joined = " ".join(quotes)
    out: list[Failure] = []
    extra = numbers(plain) - numbers(joined)
    if extra:
        out.append(
            Failure(
                "number_not_in_quote",
                f'{tag}: {", ".join(sorted(extra))} in "{_short(sentence)}" is not in '
                "the quotes it cites",
                cited[0].label,
                line,
                sentence,
            )
        )
    lost = negations(plain) - negations(joined)
    if lost:
        out.append(
            Failure(
                "negation_not_in_quote",
                f'{tag}: "{", ".join(sorted(lost))}" in "{_short(sentence)}" is not in '
                "the quotes it cites",
                cited[0].label,
                line,
                sentence,
            )
        )
    score = support(plain, quotes)
    if score < SUPPORT_THRESHOLD:
        out.append(
            Failure(
                "unsupported_claim",
                f'{tag}: only {score:.0%} of the content words of "{_short(sentence)}" '
                "are in the quotes it cites",
                cited[0].label,
                line,
                sentence,
            )
        )
    return out


def verify(
    markdown: str,
    sources: Mapping[str, str],
    gathered: Collection[str] | None = None,
    titles: Mapping[str, str] | None = None,
) -> VerificationReport:
    """Check the citations of `markdown` against `sources` (path → text).

    `gathered`, when given, is the set of sources this thread's research actually read; a
    quote from any other source is reported even when it is genuine. `titles` (path →
    title) lets prose name a source by its title without that counting as a claim."""
    citations, failures = parse_citations(markdown)
    defined = {c.label for c in citations} | {f.label for f in failures if f.label}
    failures += _check_quotes(citations, sources, gathered)
    if titles is None:  # named as `load_corpus` would title them
        titles = {key: title_of(key, text) for key, text in sources.items()}
    failed = {f.label for f in failures if f.label}
    sound = [c for c in citations if c.label not in failed]  # others are reported already
    body, count = _check_body(markdown, citations, sound, defined, titles)
    failures += body
    used = set(MARKER.findall("\n".join(t for _, t in body_paragraphs(markdown))))
    for c in citations:
        if c.label not in used:
            failures.append(
                Failure(
                    "unreferenced_definition",
                    f"footnote [^{c.label}] is defined but no sentence cites it",
                    c.label,
                    c.line,
                    c.quote,
                )
            )
    failures.sort(key=lambda f: (f.line or 0, f.kind))
    return VerificationReport(not failures, citations, failures, count)


def extract_quote_fix(quote: str, source_text: str, threshold: float = 0.75) -> str | None:
    """The sentence of `source_text` closest to a misquoted `quote`, if it is close enough
    (difflib ratio ≥ `threshold`); used to repair a citation with the words really written."""
    target = normalise_ws(quote)
    if not target or not source_text.strip():
        return None
    doc = Document("", "", source_text, "")
    best, best_ratio = None, threshold
    for candidate in sentences(doc, min_words=1, max_words=10_000):
        matcher = difflib.SequenceMatcher(None, target, candidate.text, autojunk=False)
        if matcher.real_quick_ratio() < best_ratio or matcher.quick_ratio() < best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio >= best_ratio:
            best, best_ratio = candidate.text, ratio
    return best
