"""Citations verified by code: every footnote quote must appear verbatim in its source.

A brief cites with markdown footnotes. The body carries markers (`[^3]`); each definition
names a source (its path in the sources folder) and quotes it:

    [^3]: housing-market-study.md "About 64% of active listings are whole-home rentals."

`verify` checks that each quote occurs in that source (whitespace-insensitive, nothing else
forgiven), that the source was gathered in this thread, that every marker has a definition
and that every body paragraph cites at least one. No model is asked; the check is exact.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lockstep.research.corpus import Document
from lockstep.research.quotes import normalise_ws, sentences

__all__ = [
    "FAILURE_KINDS",
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
    "unknown_source",
    "source_not_gathered",
    "quote_not_found",
    "empty_quote",
    "uncited_paragraph",
)

_DEFINITION_START = re.compile(r"^\[\^([^\]\s]+)\]:(.*)$")
_MARKER = re.compile(r"\[\^([^\]\s]+)\](?!:)")


@dataclass(frozen=True)
class Citation:
    """Footnote `label` quoting `quote` from `source`, defined on `line` (1-based)."""

    label: str
    source: str
    quote: str
    line: int


@dataclass(frozen=True)
class Failure:
    """One problem found by verification; `kind` is one of `FAILURE_KINDS`."""

    kind: str
    message: str
    label: str | None = None
    line: int | None = None


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
                lines.append(f"- **{f.kind}** {where}{f.message}")
        return "\n".join(lines) + "\n"


def parse_citations(markdown: str) -> tuple[list[Citation], list[Failure]]:
    """Footnote definitions of `markdown`, and the definitions that could not be parsed.

    The source path runs up to the first `"` (so it may contain spaces); the quote runs from
    there to the last `"` on the line (so it may contain quotation marks itself)."""
    citations: list[Citation] = []
    failures: list[Failure] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(markdown.splitlines(), start=1):
        match = _DEFINITION_START.match(line.strip())
        if not match:
            continue
        label, rest = match.group(1), match.group(2).strip()
        first, last = rest.find('"'), rest.rfind('"')
        source = rest[:first].strip() if first > 0 else ""
        if first <= 0 or last == first or not source or rest[last + 1 :].strip():
            failures.append(
                Failure(
                    "malformed_definition",
                    f'footnote [^{label}] is not of the form `[^{label}]: SOURCE "QUOTE"`',
                    label,
                    number,
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
                )
            )
            continue
        seen[label] = number
        citations.append(Citation(label, source, rest[first + 1 : last], number))
    return citations, failures


def _is_definition(line: str) -> bool:
    return bool(_DEFINITION_START.match(line.strip()))


def body_paragraphs(markdown: str) -> list[tuple[int, str]]:
    """(first line, text) of each body paragraph: not a heading, rule or footnote definition."""
    paragraphs: list[tuple[int, str]] = []
    start, lines = 0, list[str]()
    for number, line in enumerate([*markdown.splitlines(), ""], start=1):
        stripped = line.strip()
        structural = (
            not stripped
            or stripped.startswith("#")
            or _is_definition(stripped)
            or re.fullmatch(r"(-{3,}|\*{3,}|_{3,})", stripped) is not None
        )
        if structural:
            if lines:
                paragraphs.append((start, " ".join(lines)))
            lines = []
            continue
        if not lines:
            start = number
        lines.append(stripped)
    return paragraphs


def verify(
    markdown: str, sources: Mapping[str, str], gathered: Collection[str] | None = None
) -> VerificationReport:
    """Check the citations of `markdown` against `sources` (path → text).

    `gathered`, when given, is the set of sources this thread's research actually read; a
    quote from any other source is reported even when it is genuine."""
    citations, failures = parse_citations(markdown)
    defined = {c.label for c in citations} | {f.label for f in failures if f.label}
    normalised: dict[str, str] = {}
    for c in citations:
        quote = normalise_ws(c.quote)
        tag = f"footnote [^{c.label}]"
        if not quote:
            failures.append(
                Failure("empty_quote", f"{tag} quotes nothing from {c.source}", c.label, c.line)
            )
        elif c.source not in sources:
            failures.append(
                Failure(
                    "unknown_source",
                    f"{tag} cites {c.source}, which is not in the sources",
                    c.label,
                    c.line,
                )
            )
        elif gathered is not None and c.source not in gathered:
            failures.append(
                Failure(
                    "source_not_gathered",
                    f"{tag} cites {c.source}, which research did not gather",
                    c.label,
                    c.line,
                )
            )
        else:
            if c.source not in normalised:
                normalised[c.source] = normalise_ws(sources[c.source])
            if quote not in normalised[c.source]:
                short = quote if len(quote) <= 80 else quote[:77] + "..."
                failures.append(
                    Failure(
                        "quote_not_found",
                        f'{tag}: "{short}" does not appear in {c.source}',
                        c.label,
                        c.line,
                    )
                )
    paragraphs = body_paragraphs(markdown)
    missing: set[str] = set()
    for line, text in paragraphs:
        labels = _MARKER.findall(text)
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
            start = text if len(text) <= 60 else text[:57] + "..."
            failures.append(
                Failure("uncited_paragraph", f'paragraph "{start}" cites no source', None, line)
            )
    failures.sort(key=lambda f: (f.line or 0, f.kind))
    return VerificationReport(not failures, citations, failures, len(paragraphs))


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
