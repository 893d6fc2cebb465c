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

The topic's terms are its words as a reader sees them (`topic_terms`): markup is not a term
(a topic typed as markdown or HTML is rendered with markdown-it-py and its visible text read
with the HTML parser, so `<b>`, `src`, a link's URL or `**` count for nothing), and a word the
folder spells the other way (British or American: licence/license, subsidise/subsidize,
colour/color, centre/center) is the folder's term, not a term no document holds.

Duplicates: the same text (sha256) or a near-copy (rapidfuzz ratio of the normalised texts at
or above `NEAR_DUPLICATE`) of a document already gathered is skipped with a reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from functools import lru_cache

from markdown_it import MarkdownIt
from rapidfuzz import fuzz

from lockstep.research.html import html_to_text
from lockstep.research.quotes import normalise_ws
from lockstep.research.ranking import Ranker, tokenize

__all__ = [
    "MIN_COVERAGE",
    "NEAR_DUPLICATE",
    "RELATIVE_SCORE",
    "duplicate_of",
    "plain_topic",
    "relevant",
    "topic_terms",
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


def _variants(word: str) -> list[str]:
    """The word spelled the other way (British <-> American), if a rule applies."""
    out = []
    for pair in (
        ("ence", "ense"), ("ise", "ize"), ("ising", "izing"), ("isation", "ization"),
        ("yse", "yze"), ("our", "or"), ("tre", "ter"), ("ogue", "og"), ("amme", "am"),
        ("lled", "led"), ("lling", "ling"),
    ):  # fmt: skip
        for a, b in (pair, pair[::-1]):
            for suffix in ("", "s", "d", "r", "rs"):
                if word.endswith(a + suffix) and len(word) > len(a + suffix) + 2:
                    out.append(word[: len(word) - len(a + suffix)] + b + suffix)
    return out


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    parser = MarkdownIt("commonmark")
    parser.parse("`warm` *up*")  # compile the rule chains before the parser is shared
    return parser


def plain_topic(topic: str) -> str:
    """The topic as a reader sees it: markdown rendered, HTML parsed, only visible text."""
    return " ".join(html_to_text(_markdown().render(topic))[1].split())


def topic_terms(topic: str, vocabulary: Collection[str] = ()) -> list[str]:
    """The topic's search terms (stems, question and modal words left out, markup ignored);
    a word `vocabulary` lacks but holds in the other spelling is given in that spelling."""
    terms: list[str] = []
    for word in re.findall(r"[^\W_]+", plain_topic(topic).lower()):
        stems = tokenize([word])[0]
        if not stems or stems[0] in _QUESTION_WORDS or word in _QUESTION_WORDS:
            continue
        term = stems[0]
        if vocabulary and term not in vocabulary:
            other = (s for v in _variants(word) for s in tokenize([v])[0])
            term = next((s for s in other if s in vocabulary), term)
        terms.append(term)
    return list(dict.fromkeys(terms))


def relevant(ranker: Ranker, topic: str) -> dict[int, float]:
    """Index → BM25 score of the documents of `ranker` relevant to `topic`."""
    terms = topic_terms(topic, ranker.vocabulary)
    if not terms or not ranker.size:
        return {}
    present = {term: {i for i, _ in ranker.rank_terms([term])} for term in terms}
    n = ranker.size
    weights = {
        t: min(3.0, max(1.0, math.log(1 + (n - len(hits) + 0.5) / (len(hits) + 0.5))))
        for t, hits in present.items()
    }
    total = sum(weights.values())
    scores = dict(ranker.rank_terms(terms))
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
