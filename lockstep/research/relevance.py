"""Which documents are about the topic, and which are copies of one already read.

Relevance is a threshold on the evidence, not "any shared word": a document is relevant when
it holds at least `MIN_COVERAGE` of the topic's weight and its BM25 score is at least
`RELATIVE_SCORE` of the best document's (a cut on the score distribution). Each distinct topic
term (question and modal words left out) weighs its inverse document frequency clamped to
[1, 3]: a term every document has still counts once (so a folder wholly on the topic is
relevant throughout), and a term no document has counts three times (so "Calder Bay" does not
make a folder on short-term rentals relevant to food trucks in Calder Bay). A topic that
shares one common word with a folder therefore finds nothing there, and the brief stops at
the too-few-sources gate.

Duplicates: the same text (sha256) or a near-copy (rapidfuzz ratio of the normalised texts at
or above `NEAR_DUPLICATE`) of a document already gathered is skipped with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rapidfuzz import fuzz

from lockstep.research.quotes import normalise_ws
from lockstep.research.ranking import Ranker, tokenize

__all__ = [
    "MIN_COVERAGE",
    "NEAR_DUPLICATE",
    "RELATIVE_SCORE",
    "duplicate_of",
    "relevant",
]

MIN_COVERAGE = 0.5
"""Least share of the topic's term weight a relevant document holds."""
_QUESTION_WORDS = frozenset(
    (
        *("should", "would", "could", "must", "can", "may", "might", "will", "shall", "what"),
        *("which", "how", "why", "when", "where", "who", "does", "did", "do", "is", "are"),
    )
)
RELATIVE_SCORE = 0.2
"""Least BM25 score of a relevant document, as a share of the best document's."""
NEAR_DUPLICATE = 95.0
"""rapidfuzz ratio (0-100) of normalised texts at or above which two documents are copies."""
_COMPARED = 20_000
"""Characters of each text compared for near-duplicates (enough to tell copies apart)."""


def relevant(ranker: Ranker, topic: str) -> dict[int, float]:
    """Index → BM25 score of the documents of `ranker` relevant to `topic`."""
    terms = [t for t in dict.fromkeys(tokenize([topic])[0]) if t not in _QUESTION_WORDS]
    if not terms or not ranker.size:
        return {}
    present = {term: {i for i, _ in ranker.rank(term)} for term in terms}
    n = ranker.size
    weights = {
        t: min(3.0, max(1.0, math.log(1 + (n - len(hits) + 0.5) / (len(hits) + 0.5))))
        for t, hits in present.items()
    }
    total = sum(weights.values())
    scores = dict(ranker.rank(" ".join(terms)))
    if not scores:
        return {}
    floor = RELATIVE_SCORE * max(scores.values())
    out: dict[int, float] = {}
    for i, score in scores.items():
        covered = sum(w for t, w in weights.items() if i in present[t]) / total
        if covered >= MIN_COVERAGE and score >= floor:
            out[i] = score
    return out


def duplicate_of(text: str, sha256: str, gathered: Iterable[tuple[str, str, str]]) -> str | None:
    """The key of a gathered `(key, sha256, text)` that `text` copies (exactly or nearly)."""
    head = normalise_ws(text)[:_COMPARED]
    for key, digest, other in gathered:
        if digest == sha256:
            return key
        if fuzz.ratio(head, normalise_ws(other)[:_COMPARED]) >= NEAR_DUPLICATE:
            return key
    return None
