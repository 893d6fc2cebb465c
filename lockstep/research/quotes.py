"""Candidate quotes: the sentences of a document, each with its exact character span.

A quote's `start:end` indexes the document text the research step read, so a citation can
always be traced back to the characters it came from. Headings, `Source:` lines, text that
does not end as a sentence, and very short or very long sentences are not quotable: they make
poor evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockstep.research.corpus import Document

__all__ = ["Quote", "normalise_ws", "sentences"]

_BULLET = re.compile(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_BOUNDARY = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[A-Z0-9])")
_ENDED = re.compile(r"[.!?][\"')\]]*$")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Dr.", "Mr.", "Ms.", "Mrs.", "St.", "No.")


@dataclass(frozen=True)
class Quote:
    """A sentence of `source` at `text[start:end]`; `text` here has its whitespace collapsed."""

    source: str
    start: int
    end: int
    text: str


def normalise_ws(text: str) -> str:
    """Collapse runs of whitespace to one space (how quotes are compared and shown)."""
    return " ".join(text.split())


def _segments(text: str) -> list[tuple[int, int]]:
    """Spans of quotable prose: paragraphs and list items, without their markers."""
    spans: list[tuple[int, int]] = []
    pos = 0
    current: tuple[int, int] | None = None
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        skip = not stripped or stripped.startswith(("#", "Source:", "|", "```", "<", "---"))
        bullet = _BULLET.match(line)
        if skip or bullet:
            if current:
                spans.append(current)
            current = None
            if bullet and not skip:
                spans.append((start + bullet.end(), end))
            continue
        current = (current[0], end) if current else (start + len(line) - len(line.lstrip()), end)
    if current:
        spans.append(current)
    return spans


def sentences(doc: Document, min_words: int = 8, max_words: int = 60) -> list[Quote]:
    """The quotable sentences of `doc`, in document order."""
    quotes: list[Quote] = []
    for seg_start, seg_end in _segments(doc.text):
        segment = doc.text[seg_start:seg_end]
        cut = seg_start
        pieces: list[tuple[int, int]] = []
        for match in _BOUNDARY.finditer(segment):
            if segment[: match.start()].endswith(_ABBREVIATIONS):
                continue
            pieces.append((cut, seg_start + match.end(1)))
            cut = seg_start + match.end()
        pieces.append((cut, seg_end))
        for start, end in pieces:
            raw = doc.text[start:end]
            end -= len(raw) - len(raw.rstrip())
            text = normalise_ws(doc.text[start:end])
            if not _ENDED.search(text):
                continue  # titles, labels and a list's lead-in are not claims
            if min_words <= len(text.split()) <= max_words:
                quotes.append(Quote(doc.path, start, end, text))
    return quotes
