"""BM25 ranking (bm25s) of documents and quotes against a query.

Scores are deterministic: ties break by position, and only positive scores are returned, so
a document that shares no term with the query is never "found".
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s

from lockstep.research.corpus import Document
from lockstep.research.quotes import Quote

__all__ = ["Ranker", "rank_documents", "rank_quotes", "tokenize"]


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased word tokens without English stopwords, one list per text."""
    tokens: list[list[str]] = bm25s.tokenize(
        list(texts), stopwords="en", return_ids=False, show_progress=False
    )
    return tokens


class Ranker:
    """A BM25 index over `texts`; `rank(query)` gives `(index, score)` best first."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._model: bm25s.BM25 | None = None
        if self.size:
            self._model = bm25s.BM25()
            self._model.index(tokenize(texts), show_progress=False)

    def rank(self, query: str, k: int | None = None) -> list[tuple[int, float]]:
        if self._model is None:
            return []
        vocab = self._model.vocab_dict
        terms = [t for t in tokenize([query])[0] if t in vocab]
        if not terms:
            return []
        scores = self._model.get_scores(terms)
        ranked = sorted(
            ((i, float(s)) for i, s in enumerate(scores) if s > 0), key=lambda p: (-p[1], p[0])
        )
        return ranked if k is None else ranked[:k]


def rank_documents(
    docs: Sequence[Document], query: str, k: int | None = None
) -> list[tuple[Document, float]]:
    """Documents that match `query`, best first (title counts as part of the text)."""
    ranker = Ranker([f"{d.title}\n{d.text}" for d in docs])
    return [(docs[i], s) for i, s in ranker.rank(query, k)]


def rank_quotes(
    quotes: Sequence[Quote], query: str, k: int | None = None
) -> list[tuple[Quote, float]]:
    """Quotes that match `query`, best first."""
    ranker = Ranker([q.text for q in quotes])
    return [(quotes[i], s) for i, s in ranker.rank(query, k)]
