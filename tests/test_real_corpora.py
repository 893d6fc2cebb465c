"""Briefs on real document sets nobody on the project wrote, and the corpus shapes they showed.

The corpora come from files every Debian machine ships (`benchmarks/real_corpora.py`: the
licence texts and package README/changelog/copyright files); what is installed varies, so the
tests assert properties, never particular strings: headings that come from the evidence (not
a fixed list, never repeated), no repeated quote, a synthesis sentence opening every section,
citations that verify against the sources the thread stored, and an off-topic topic stopping
at the `human_input_needed` gate.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from benchmarks.real_corpora import (
    DOCS,
    LICENCES,
    OFF_TOPIC,
    TOPICS,
    build_docs,
    build_licences,
)
from lockstep import Lockstep
from lockstep.research.checking import verify_thread
from lockstep.research.escape import unescape_markdown
from lockstep.research.relevance import duplicate_of
from lockstep.research.writer import NEAR_DUPLICATE
from tests.conftest import CORPUS

TOPIC = "Should Calder Bay cap and register short-term rentals?"
_DEFINITION = re.compile(r'^\[\^\d+\]: \S+ "(.*)"$', re.M)


def _brief_properties(markdown: str) -> tuple[list[str], list[str]]:
    """(section headings, problems) of a completed brief."""
    body, _, notes = markdown.partition("\n---\n")
    quotes = [unescape_markdown(q).lower() for q in _DEFINITION.findall(notes)]
    problems = []
    for n, quote in enumerate(quotes):
        for other in quotes[:n]:
            if fuzz.token_set_ratio(quote, other) >= NEAR_DUPLICATE:
                problems.append(f"repeated quote: {quote[:60]}")
    sections = re.split(r"^## ", body, flags=re.M)[1:]
    headings = [s.splitlines()[0].strip() for s in sections]
    if len({h.lower() for h in headings}) != len(headings):
        problems.append(f"repeated heading in {headings}")
    for section, heading in zip(sections, headings, strict=True):
        paragraphs = [p for p in section.split("\n\n")[1:] if p.strip()]
        opening = paragraphs[0] if paragraphs else ""
        # a synthesis sentence: the writer's own words with citations, not a quote
        if "“" in opening or "[^" not in opening:
            problems.append(f"section {heading!r} opens without a synthesis sentence")
    return headings, problems


def _run(url: str, topic: str, folder: Path, mode: str = "locked") -> tuple[str, str]:
    with Lockstep(url) as client:
        st = client.run("brief", topic=topic, sources=[str(folder)], research_mode=mode)
        if st.status != "completed":
            return st.status, ""
        final = client.artifact(st.thread_id, "final")[1].decode()
        report = verify_thread(final, client.artifacts, st.thread_id)
        assert report.ok, report.failures
        return st.status, final


def _corpus(kind: str, tmp_path: Path) -> Path:
    folder = tmp_path / kind
    if kind == "licences":
        if not LICENCES.is_dir():
            pytest.skip(f"{LICENCES} is absent (not a Debian-family machine)")
        made = build_licences(folder)
    else:
        if not DOCS.is_dir():
            pytest.skip(f"{DOCS} is absent (not a Debian-family machine)")
        made = build_docs(folder, 200)
    if made < 5:
        pytest.skip(f"{made} readable documents in {kind}: too few on this machine")
    return folder


@pytest.mark.parametrize("kind", ["licences", "docs"])
def test_briefs_on_real_document_sets(tmp_path: Path, kind: str) -> None:
    folder = _corpus(kind, tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    all_headings: list[list[str]] = []
    for topic in TOPICS[kind]:
        status, final = _run(url, topic, folder)
        assert status == "completed", (topic, status)
        headings, problems = _brief_properties(final)
        assert not problems, (topic, problems)
        assert len(headings) >= 2, (topic, headings)
        all_headings.append(headings)
    # headings come from each brief's evidence: no two topics share their list
    assert len({tuple(h) for h in all_headings}) == len(all_headings), all_headings
    sample = "Costs, revenue and the economy"  # the old fixed list's rental heading
    assert not any(sample in h for hs in all_headings for h in hs)
    status, _ = _run(url, OFF_TOPIC, folder)
    assert status == "human_input_needed"


def test_agent_research_on_the_licence_texts(tmp_path: Path) -> None:
    folder = _corpus("licences", tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    status, final = _run(url, TOPICS["licences"][0], folder, mode="agent")
    assert status == "completed"
    assert not _brief_properties(final)[1]
    assert _run(url, OFF_TOPIC, folder, mode="agent")[0] == "human_input_needed"


def _with_copies(tmp_path: Path) -> Path:
    """The sample corpus plus, for every document, an exact copy and a near copy (one word
    changed, a line added)."""
    folder = tmp_path / "copies"
    shutil.copytree(CORPUS, folder)
    for doc in sorted(CORPUS.iterdir()):
        text = doc.read_text(encoding="utf-8")
        shutil.copy(doc, folder / f"copy-of-{doc.name}")
        near = text.replace(" the ", " this ", 1) + "\nFiled again for the record.\n"
        (folder / f"near-{doc.name}").write_text(near, encoding="utf-8")
    return folder


@pytest.mark.parametrize("mode", ["agent", "locked"])
def test_copies_and_near_copies_give_no_evidence_twice(tmp_path: Path, mode: str) -> None:
    folder = _with_copies(tmp_path)
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}") as client:
        st = client.run("brief", topic=TOPIC, sources=[str(folder)], research_mode=mode)
        assert st.status == "completed", st
        report = client.artifacts.json(client.artifacts.latest(st.thread_id, "sources"))
        final = client.artifact(st.thread_id, "final")[1].decode()
        assert verify_thread(final, client.artifacts, st.thread_id).ok
    texts = {s["key"]: (folder / s["path"]).read_text(encoding="utf-8") for s in report["sources"]}
    kept: list[tuple[str, str, str]] = []
    for key, text in texts.items():
        digest = hashlib.sha256(text.encode()).hexdigest()
        assert duplicate_of(text, digest, kept) is None, f"{key} copies a source already kept"
        kept.append((key, digest, text))
    # no two quotes of the brief come from copies of one document
    cited = set(re.findall(r'^\[\^\d+\]: (\S+) "', final, re.M))
    originals = {k.removeprefix("copy-of-").removeprefix("near-") for k in cited}
    assert len(originals) == len(cited), sorted(cited)
    if mode == "agent":  # the agent met copies and the report says why they gave nothing
        assert any(s["reason"].startswith("a copy of") for s in report["skipped"]), report[
            "skipped"
        ]


@pytest.mark.parametrize(
    "marked",
    [
        "Should Calder Bay <b>cap</b> and <em>register</em> short-term rentals?"
        ' <img src="x.png" onerror="alert(1)"> <span style="x">&nbsp;</span>',
        "Should **Calder Bay** cap and `register` [short-term rentals](https://a.example/zq)?",
        "<div class='q'><p>Should Calder Bay cap and register</p>\n"
        "<h1>short-term rentals?</h1></div>",
    ],
)
def test_markup_in_the_topic_is_not_a_topic_term(tmp_path: Path, marked: str) -> None:
    from lockstep.research.relevance import topic_terms

    assert topic_terms(marked) == topic_terms(TOPIC)
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}") as client:
        plain = client.run("brief", topic=TOPIC, sources=[str(CORPUS)])
        st = client.run("brief", topic=marked, sources=[str(CORPUS)])
        assert st.status == "completed", st
        gathered = client.values(st.thread_id)["gathered"]
        assert sorted(gathered) == sorted(client.values(plain.thread_id)["gathered"])


def test_spelling_variants_of_a_topic_word_find_the_folder(tmp_path: Path) -> None:
    from lockstep.research.ranking import Ranker
    from lockstep.research.relevance import relevant

    texts = [
        f"The license of package {n} permits redistribution of modified software. "
        "The license requires notices to be kept."
        for n in range(6)
    ] + ["Ferry timetables for the harbour.", "Bus fares rise in spring."]
    ranker = Ranker(texts)
    assert set(relevant(ranker, "What does each licence permit for modified software?")) == set(
        range(6)
    )
    assert relevant(ranker, "Should harbour ferries be free for licence holders?") == {}


@pytest.mark.parametrize("mode", ["locked", "agent"])
def test_sample_corpus_brief_has_the_same_properties(tmp_path: Path, mode: str) -> None:
    status, final = _run(f"sqlite:///{tmp_path / 'db.sqlite'}", TOPIC, CORPUS, mode)
    assert status == "completed"
    headings, problems = _brief_properties(final)
    assert not problems and len(headings) >= 3
    assert not any(h.strip("() ").isdigit() or h.endswith(tuple("0123456789")) for h in headings)
