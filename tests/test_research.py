"""Reading sources, cutting quotes with exact spans, and BM25 ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep import Lockstep, SourcesError
from lockstep.research.corpus import html_to_text, load_corpus, read_document
from lockstep.research.quotes import sentences
from lockstep.research.ranking import Ranker, rank_documents, rank_quotes
from tests.conftest import CORPUS

TOPIC = "Should Calder Bay cap and register short-term rentals?"


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_sample_corpus_is_substantial(corpus: Path) -> None:
    docs, skipped = load_corpus(corpus)
    assert len(docs) >= 12 and skipped == []
    assert {Path(d.path).suffix for d in docs} == {".md", ".txt", ".html"}
    assert sum(len(d.text.split()) for d in docs) > 8000
    assert all(len(sentences(d)) >= 10 for d in docs)


def test_formats_titles_and_normalisation(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.md",
        "\ufeff# Rent Study\r\n\r\nRents rose by 4% in the harbour district last year.\r\n",
    )
    _write(
        tmp_path,
        "b.txt",
        "Council Memo\n\nThe council will vote on the cap in June of this year.\n",
    )
    _write(
        tmp_path,
        "sub/c.html",
        "<html><head><title>Peer Cities</title><style>p {color: red}</style></head><body>"
        "<h1>Ignored heading</h1><p>Westmere uses platform data to verify its nightly cap.</p>"
        "<script>var x = 'not text';</script><ul><li>First item of the list here</li></ul>"
        "</body></html>",
    )
    _write(tmp_path, ".hidden/d.md", "# Hidden\n\nShould never be read by research at all.\n")
    docs, skipped = load_corpus(tmp_path)
    by_path = {d.path: d for d in docs}
    assert sorted(by_path) == ["a.md", "b.txt", "sub/c.html"]
    assert skipped == []
    a = by_path["a.md"]
    assert a.title == "Rent Study" and "\r" not in a.text and not a.text.startswith("\ufeff")
    assert by_path["b.txt"].title == "Council Memo"
    c = by_path["sub/c.html"]
    assert c.title == "Peer Cities"
    assert "color: red" not in c.text and "not text" not in c.text
    assert "Westmere uses platform data to verify its nightly cap." in c.text
    assert "First item of the list here" in c.text
    assert read_document(tmp_path, "sub/c.html") == c


def test_html_headings_become_markdown_headings() -> None:
    title, text = html_to_text("<h1>Main</h1><p>Body text here.</p><h2>Part</h2><p>More.</p>")
    assert title == "Main"
    assert text == "# Main\n\nBody text here.\n\n## Part\n\nMore."


def test_unreadable_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    _write(
        tmp_path, "good.md", "# Good\n\nThis document is fine and has a sentence of some length.\n"
    )
    _write(tmp_path, "latin1.txt", "Caf\xe9 owners object to the cap".encode("latin-1"))
    _write(tmp_path, "empty.md", "   \n")
    _write(tmp_path, "data.pdf", b"%PDF-1.4")
    docs, skipped = load_corpus(tmp_path)
    assert [d.path for d in docs] == ["good.md"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons == {
        "data.pdf": "unsupported file type '.pdf'",
        "empty.md": "empty.md is empty",
        "latin1.txt": "latin1.txt is not UTF-8 text (byte 3)",
    }


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing", "sources folder '{}' does not exist"),
        (lambda p: _write(p, "file.md", "x"), "sources folder '{}' is not a folder"),
        (lambda p: p, "sources folder '{}' holds no readable .md, .txt or .html document"),
    ],
)
def test_bad_folders(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = setup(tmp_path)
    with pytest.raises(SourcesError) as info:
        load_corpus(folder)
    assert str(info.value) == message.format(folder)


def test_read_document_stays_inside_the_folder(tmp_path: Path) -> None:
    _write(tmp_path, "inside/a.md", "# A\n\nA sentence that is long enough to be quoted here.\n")
    _write(tmp_path, "secret.md", "# S\n\nNot part of the sources folder at all, not ever.\n")
    with pytest.raises(SourcesError, match="outside sources folder"):
        read_document(tmp_path / "inside", "../secret.md")
    with pytest.raises(SourcesError, match="no longer exists"):
        read_document(tmp_path / "inside", "gone.md")


def test_sources_outside_the_allowed_roots_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, outside = tmp_path / "shared", tmp_path / "private"
    (inside / "docs").mkdir(parents=True)
    outside.mkdir()
    (inside / "docs" / "a.md").write_text("# A\n\nPublic text.\n")
    (outside / "secret.md").write_text("# Secret\n\nPrivate text.\n")
    (inside / "docs" / "leak.md").symlink_to(outside / "secret.md")
    monkeypatch.setenv("LOCKSTEP_SOURCES_ROOTS", str(inside))
    docs, skipped = load_corpus(inside / "docs")
    assert [d.path for d in docs] == ["a.md"]
    assert [(s.path, s.reason) for s in skipped] == [
        ("leak.md", "a link to a file outside the folder")
    ]
    with pytest.raises(SourcesError, match="outside the allowed roots"):
        load_corpus(outside)
    with pytest.raises(SourcesError, match="outside the allowed roots"):
        load_corpus(inside / "docs" / ".." / ".." / "private")
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}") as client:
        with pytest.raises(SourcesError, match="outside the allowed roots"):
            client.run("brief", topic="Secrets", sources=[str(outside)])
        assert client.db.query("SELECT * FROM lockstep_threads") == []


def test_quote_spans_are_exact(corpus: Path) -> None:
    docs, _ = load_corpus(corpus)
    for doc in docs:
        for quote in sentences(doc):
            raw = doc.text[quote.start : quote.end]
            assert " ".join(raw.split()) == quote.text
            assert 8 <= len(quote.text.split()) <= 60
            assert not quote.text.startswith(("#", "Source:", "- "))
            assert quote.text[-1] in ".!?\"')", quote.text


def test_sentence_splitting(tmp_path: Path) -> None:
    text = (
        "# Heading that is long enough to count as a sentence if read\n\n"
        "Source: Department of Planning, report number four, May 2025\n\n"
        "The city had 3,112 listings in March 2025, e.g. rooms and homes alike. About 64% of "
        "them were whole-home rentals, by the staff count.\nShort one.\n\n"
        "- A bullet item that has more than eight words in it.\n"
        "1. A numbered item that also has more than eight words.\n"
    )
    _write(tmp_path, "doc.md", text)
    (doc,), _ = load_corpus(tmp_path)
    got = [q.text for q in sentences(doc)]
    assert got == [
        "The city had 3,112 listings in March 2025, e.g. rooms and homes alike.",
        "About 64% of them were whole-home rentals, by the staff count.",
        "A bullet item that has more than eight words in it.",
        "A numbered item that also has more than eight words.",
    ]
    assert [q.text for q in sentences(doc, min_words=1)][-3] == "Short one."


def test_ranking_is_relevant_and_deterministic(corpus: Path) -> None:
    docs, _ = load_corpus(corpus)
    fire = rank_documents(docs, "fire safety smoke alarms inspections")
    assert fire[0][0].path == "fire-safety-inspection-memo.txt"
    assert all(score > 0 for _, score in fire)
    assert [d.path for d, _ in fire] == [
        d.path for d, _ in rank_documents(docs, "fire safety smoke alarms inspections")
    ]
    assert rank_documents(docs, "zzzz qqqq") == []
    assert len(rank_documents(docs, TOPIC, k=3)) == 3
    tax = next(d for d in docs if d.path == "tax-revenue-analysis.md")
    best = rank_quotes(sentences(tax), "occupancy tax revenue million", k=2)
    assert len(best) == 2 and all(
        "tax" in q.text.lower() or "revenue" in q.text.lower() for q, _ in best
    )


def test_ranker_breaks_ties_by_position() -> None:
    ranker = Ranker(["alpha beta", "gamma delta", "alpha beta"])
    assert [i for i, _ in ranker.rank("alpha")] == [0, 2]
    assert Ranker([]).rank("alpha") == []


def test_undecodable_source_is_named_in_the_research_report(tmp_path: Path, corpus: Path) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    for doc in sorted(corpus.iterdir()):
        (folder / doc.name).write_bytes(doc.read_bytes())
    _write(folder, "broken.txt", b"\xff\xfe\x00 short-term rentals cap register")
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}") as client:
        st = client.run("brief", topic=TOPIC, sources=[str(folder)])
        assert st.status == "completed"
        report = client.artifacts.json(client.artifacts.latest(st.thread_id, "sources"))
    assert {"key": "broken.txt", "reason": "broken.txt is not UTF-8 text (byte 0)"} in report[
        "skipped"
    ]
    assert "broken.txt" not in {s["key"] for s in report["sources"]}


def test_corpus_index_is_built_once_per_content_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process (and a later step) loads the index the first one saved, by the
    corpus's content hash; a changed corpus gets an index of its own."""
    import subprocess
    import sys

    import bm25s

    from lockstep.research import ranking
    from lockstep.research.corpus import load_corpus

    cache = tmp_path / "index-cache"
    docs, _ = load_corpus(CORPUS)
    texts = [f"{d.title}\n{d.text}" for d in docs]
    build = (
        "import sys; from pathlib import Path; from lockstep.research.corpus import load_corpus;"
        "from lockstep.research.ranking import index_for;"
        "docs, _ = load_corpus(sys.argv[1]);"
        "index_for([f'{d.title}\\n{d.text}' for d in docs], Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", build, str(CORPUS), str(cache)], check=True)
    assert len(list(cache.glob("bm25-*"))) == 1

    def no_indexing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the saved index should have been loaded, not rebuilt")

    monkeypatch.setattr(ranking, "_INDEXES", type(ranking._INDEXES)())
    monkeypatch.setattr(bm25s.BM25, "index", no_indexing)
    loaded = ranking.index_for(texts, cache)
    assert [i for i, _ in loaded.rank("short-term rentals")][:3]
    assert ranking.index_for(texts, cache) is loaded  # the same process keeps it
    monkeypatch.undo()
    changed = ranking.index_for([*texts, "A new document on parking permits."], cache)
    assert changed is not loaded and len(list(cache.glob("bm25-*"))) == 2


def test_sentences_are_split_the_same_in_concurrent_threads(corpus: Path) -> None:
    """A worker runs several jobs in threads of one process; each must get its own document's
    sentences (a shared pysbd segmenter once mixed them up and made verified quotes fail)."""
    from concurrent.futures import ThreadPoolExecutor

    from lockstep.research.quotes import split_sentences

    texts = [doc.text for doc in load_corpus(corpus)[0]] * 4
    alone = [split_sentences(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(split_sentences, texts)) == alone
