"""BM25 ranking (bm25s) of documents and quotes against a query.

Scores are deterministic: ties break by position, and only positive scores are returned, so
a document that shares no term with the query is never "found".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from pathlib import Path

import bm25s
import Stemmer

from lockstep.research.corpus import Document
from lockstep.research.quotes import Quote

__all__ = ["Ranker", "index_for", "rank_documents", "rank_quotes", "tokenize"]


_LOCAL = threading.local()
TOKENIZER = "bm25s-en-stopwords+snowball-english"
"""What `tokenize` does; part of every index's cache key, so an index built by another
tokenizer is never loaded."""


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, Snowball-stemmed word tokens without English stopwords, one list per text
    (stemmed so that "caps" finds "cap" and "rentals" finds "rental")."""
    tokens: list[list[str]] = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return tokens


def _stemmer() -> Stemmer.Stemmer:
    """This thread's Snowball stemmer: PyStemmer's objects keep a cache and are not safe to
    share between threads (a server runs several briefs at once)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = Stemmer.Stemmer("english")
    return stemmer


class Ranker:
    """A BM25 index over `texts`; `rank(query)` gives `(index, score)` best first."""

    def __init__(self, texts: Sequence[str], *, model: bm25s.BM25 | None = None) -> None:
        self.size = len(texts)
        self._model: bm25s.BM25 | None = model
        if self.size and model is None:
            self._model = bm25s.BM25()
            self._model.index(tokenize(texts), show_progress=False)

    def rank(self, query: str, k: int | None = None) -> list[tuple[int, float]]:
        return self.rank_terms(tokenize([query])[0], k)

    @property
    def vocabulary(self) -> Collection[str]:
        """The index's terms (stemmed tokens)."""
        return self._model.vocab_dict.keys() if self._model is not None else ()

    def rank_terms(self, tokens: Sequence[str], k: int | None = None) -> list[tuple[int, float]]:
        """`rank` for a query already tokenised by `tokenize` (its stems are not stemmed
        again: "choos", the stem of "choose", would become "choo" and match nothing)."""
        if self._model is None:
            return []
        vocab = self._model.vocab_dict
        terms = [t for t in tokens if t in vocab]
        if not terms:
            return []
        scores = self._model.get_scores(terms)
        ranked = sorted(
            ((i, float(s)) for i, s in enumerate(scores) if s > 0), key=lambda p: (-p[1], p[0])
        )
        return ranked if k is None else ranked[:k]


_INDEXES: OrderedDict[str, Ranker] = OrderedDict()
_INDEX_LOCK = threading.Lock()
KEPT_INDEXES = 8
"""Corpus indexes a process keeps in memory (least recently used dropped first)."""


def index_for(texts: Sequence[str], cache_dir: Path | None = None) -> Ranker:
    """The BM25 index of a corpus, built once per content: kept in this process by the
    sha256 of its texts and, with `cache_dir`, on disk there (`bm25-<sha256>/`), so every
    step, round and worker process reuses it while the corpus is unchanged. Indexing is most
    of research's cost on a large corpus (tokenising every document); loading is not."""
    digest = hashlib.sha256(TOKENIZER.encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    key = digest.hexdigest()
    with _INDEX_LOCK:
        if key in _INDEXES:
            _INDEXES.move_to_end(key)
            return _INDEXES[key]
    ranker = _load(cache_dir / f"bm25-{key}", len(texts)) if cache_dir else None
    if ranker is None:
        ranker = Ranker(texts)
        if cache_dir is not None and ranker._model is not None:
            _save(ranker._model, cache_dir / f"bm25-{key}")
    with _INDEX_LOCK:
        _INDEXES[key] = ranker
        while len(_INDEXES) > KEPT_INDEXES:
            _INDEXES.popitem(last=False)
    return ranker


def _load(folder: Path, size: int) -> Ranker | None:
    if not folder.is_dir():
        return None
    try:
        model = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is rebuilt (and rewritten) by the caller
    return Ranker([""] * size, model=model)


def _save(model: bm25s.BM25, folder: Path) -> None:
    """Write the index atomically: into a temporary folder, then renamed into place (a
    concurrent writer of the same corpus loses the rename harmlessly)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=folder.parent))
    try:
        model.save(str(staging), show_progress=False)
        os.replace(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def rank_documents(
    docs: Sequence[Document], query: str, k: int | None = None, cache_dir: Path | None = None
) -> list[tuple[Document, float]]:
    """Documents that match `query`, best first (title counts as part of the text)."""
    ranker = index_for([f"{d.title}\n{d.text}" for d in docs], cache_dir)
    return [(docs[i], s) for i, s in ranker.rank(query, k)]


def rank_quotes(
    quotes: Sequence[Quote], query: str, k: int | None = None
) -> list[tuple[Quote, float]]:
    """Quotes that match `query`, best first."""
    ranker = Ranker([q.text for q in quotes])
    return [(quotes[i], s) for i, s in ranker.rank(query, k)]
