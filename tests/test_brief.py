"""The policy-brief workflow end to end, on SQLite and PostgreSQL.

Each test drives real threads through the compiled machine with a real checkpointer; a new
`Lockstep` client on the same URL stands in for a new process (the CLI tests use real ones).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockstep import InvalidDecision, Lockstep, SourcesError, ThreadNotFound, ThreadStateError
from lockstep.research.citations import verify
from lockstep.research.corpus import load_corpus
from tests.models import FabricatingModel, ThinOutlineModel

TOPIC = "Should Calder Bay cap and register short-term rentals?"


def _path(client: Lockstep, thread: str) -> list[tuple[str, str, str]]:
    return [(t["from"], t["event"], t["to"]) for t in client.transitions(thread)]


def _corpus_texts(folder: Path) -> dict[str, str]:
    docs, _ = load_corpus(folder)
    return {d.path: d.text for d in docs}


def _small_folder(tmp_path: Path, corpus: Path, count: int = 2) -> Path:
    folder = tmp_path / "few"
    folder.mkdir()
    for doc in sorted(corpus.glob("*.md"))[:count]:
        shutil.copy(doc, folder / doc.name)
    return folder


def _assert_reads_like_a_brief(text: str, outline: dict[str, object]) -> None:
    """Headings from the evidence, no quote twice, a synthesis sentence opening each section."""
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "Summary" and len(set(headings)) == len(headings) >= 3
    fixed = {"Background and scale", "Costs, revenue and the economy", "What the evidence shows"}
    assert not fixed & set(headings)
    quotes = [line.split('"', 1)[1] for line in text.splitlines() if line.startswith("[^")]
    assert len(quotes) == len(set(quotes))
    for block in text.split("\n## ")[1:]:
        first = block.split("\n\n")[1]
        assert "“" not in first.split("[^")[0], first  # opens with its own words, not a quote
        assert "[^" in first


def test_brief_completes_with_verified_citations(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        assert st.status == "completed" and st.final and st.gate is None
        path = _path(client, st.thread_id)
        assert path[0] == ("requested", "validated", "researching")
        assert path[-1] == ("verifying", "passed", "completed")
        # the design card's four nodes, in order: research, outline, draft, verify
        visited = [path[0][0]] + [p[2] for p in path]
        runs = [s for n, s in enumerate(visited) if n == 0 or visited[n - 1] != s]
        assert runs == [
            "requested",
            "researching",
            "outlining",
            "drafting",
            "verifying",
            "completed",
        ]
        assert ("researching", "sources_gathered", "outlining") in path
        assert ("outlining", "outline_complete", "drafting") in path
        assert ("drafting", "draft_complete", "verifying") in path
        # research checkpoints once per batch of 5 sources; drafting once per section
        batches = [p for p in path if p[0] == "researching"]
        report = client.artifacts.json(client.artifacts.latest(st.thread_id, "sources"))
        assert len(batches) == -(-len(report["sources"]) // 5) or len(batches) >= 2
        outline = client.artifacts.json(client.artifacts.latest(st.thread_id, "outline"))
        sections = [p for p in path if p[1] == "section_written"]
        assert len(sections) == len(outline["sections"]) >= 3
        _, content = client.artifact(st.thread_id, "final")
        text = content.decode()
        result = verify(text, _corpus_texts(corpus), {s["key"] for s in report["sources"]})
        assert result.ok, result.failures
        assert len(result.citations) >= 8 and result.paragraphs >= 5
        assert client.values(st.thread_id)["verified"] is True
        assert client.artifacts.latest(st.thread_id, "final").score == 1.0
        _assert_reads_like_a_brief(text, outline)
        names = {a.name for a in client.artifacts_of(st.thread_id)}
        assert {
            "request",
            "sources",
            "outline",
            "section-1",
            "draft",
            "verification",
            "final",
        } <= names
        final = client.artifacts.latest(st.thread_id, "final")
        assert (
            final is not None
            and final.inputs[0]["id"] == client.artifacts.latest(st.thread_id, "draft").id
        )


@pytest.mark.parametrize(
    ("topic", "reason"),
    [("", "topic is empty"), ("   \n\t", "topic is empty"), ("x" * 301, "301 characters")],
)
def test_invalid_topic_is_rejected_with_reason(
    db_url: str, corpus: Path, topic: str, reason: str
) -> None:
    with Lockstep(db_url) as client:
        st = client.run("brief", topic=topic, sources=[str(corpus)])
        assert st.status == "rejected" and st.final
        assert reason in (st.rejection_reason or "")
        assert _path(client, st.thread_id) == [("requested", "invalid", "rejected")]
        assert client.artifacts.latest(st.thread_id, "sources") is None


def test_missing_or_empty_sources_fail_before_any_work(db_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with Lockstep(db_url) as client:
        with pytest.raises(SourcesError, match="does not exist"):
            client.run("brief", topic=TOPIC, sources=[str(tmp_path / "nope")])
        with pytest.raises(SourcesError, match="holds no readable"):
            client.run("brief", topic=TOPIC, sources=[str(empty)])
        assert list(client.threads()) == []


def test_insufficient_sources_gate_then_add_sources(
    db_url: str, corpus: Path, tmp_path: Path
) -> None:
    few = _small_folder(tmp_path, corpus)
    with Lockstep(db_url) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(few)])
        thread = st.thread_id
    assert st.status == "human_input_needed" and st.gate is not None
    assert st.gate["decisions"] == ["add_sources", "proceed", "cancel"]
    assert st.gate["review"]["sources_found"] == 2
    with Lockstep(db_url) as fresh:  # a new client on the same database
        before = fresh.status(thread)
        with pytest.raises(InvalidDecision, match="does not allow decision 'approve'"):
            fresh.resume(thread, "approve", by="ana")
        with pytest.raises(InvalidDecision, match="requires sources"):
            fresh.resume(thread, "add_sources", by="ana")
        with pytest.raises(SourcesError):
            fresh.resume(thread, "add_sources", by="ana", sources=str(tmp_path / "missing"))
        assert fresh.status(thread).checkpoint_id == before.checkpoint_id
        st = fresh.resume(thread, "add_sources", by="ana", sources=str(corpus))
        assert st.status == "completed"
        values = fresh.values(thread)
        assert values["decisions"][0]["by"] == "ana"
        assert any(k.startswith("corpus/") for k in values["gathered"])
        final = fresh.artifact(thread, "final")[1].decode()
        texts = _corpus_texts(few) | {f"corpus/{k}": v for k, v in _corpus_texts(corpus).items()}
        assert verify(final, texts).ok


@pytest.mark.parametrize(
    ("decision", "status"), [("proceed", "completed"), ("cancel", "cancelled")]
)
def test_insufficient_sources_proceed_or_cancel(
    db_url: str, corpus: Path, tmp_path: Path, decision: str, status: str
) -> None:
    few = _small_folder(tmp_path, corpus, count=2)
    with Lockstep(db_url) as client:
        thread = client.run("brief", topic=TOPIC, sources=[str(few)]).thread_id
        st = client.resume(thread, decision, by="ana")
        assert st.status == status and st.final
        if status == "completed":
            assert verify(client.artifact(thread, "final")[1].decode(), _corpus_texts(few)).ok
        with pytest.raises(ThreadStateError, match=f"is {status}; there is nothing to resume"):
            client.resume(thread, "proceed")


@pytest.mark.parametrize(
    ("decision", "status"),
    [("retry", "completed"), ("proceed", "completed"), ("cancel", "cancelled")],
)
def test_research_timeout_keeps_sources_and_asks(
    db_url: str, corpus: Path, decision: str, status: str
) -> None:
    with Lockstep(db_url, research_timeout=1e-9) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        thread = st.thread_id
        assert st.status == "research_timeout"
        kept = client.artifacts.json(client.artifacts.latest(thread, "sources"))["sources"]
        assert len(kept) == 5  # the first batch survives the timeout
        assert st.gate["review"]["remaining"] > 0
    with Lockstep(db_url) as fresh:  # default 10 minute limit
        st = fresh.resume(thread, decision, by="ben")
        assert st.status == status
        gathered = fresh.values(thread)["gathered"]
        if decision == "retry":
            assert len(gathered) > 5
        else:
            assert len(gathered) == 5


def test_thin_outline_asks_for_research_once_then_a_person(db_url: str, corpus: Path) -> None:
    """`needs_more_research` from outlining: one more research round (counted), then, the
    rounds spent, the `human_input_needed` gate; `proceed` outlines with what was found."""
    with Lockstep(db_url, model=ThinOutlineModel(thin_outlines=99)) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        assert st.status == "human_input_needed" and st.gate is not None
        assert st.counters["research_rounds"] == 1
        path = _path(client, st.thread_id)
        asks = [p for p in path if p[1] == "needs_more_research"]
        assert asks == [
            ("outlining", "needs_more_research", "researching"),
            ("outlining", "needs_more_research", "human_input_needed"),
        ]
        # the second research round ran between the two outlines
        first, second = (path.index(a) for a in asks)
        assert ("researching", "sources_gathered", "outlining") in path[first:second]
        assert client.values(st.thread_id)["outline"] is None
        st = client.resume(st.thread_id, "proceed", by="ana")
        assert st.status == "completed", st
        path = _path(client, st.thread_id)
        at = path.index(("human_input_needed", "proceed", "outlining"))
        assert path[at + 1] == ("outlining", "outline_complete", "drafting")
        outline = client.artifacts.json(client.artifacts.latest(st.thread_id, "outline"))
        assert len(outline["sections"]) == 2  # the thin outline, accepted by the person


def test_failed_citations_are_revised(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url, model=FabricatingModel(revisions_fabricated=0)) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        assert st.status == "completed"
        assert st.counters["revision_count"] == 1
        path = _path(client, st.thread_id)
        assert ("verifying", "citations_failed", "drafting") in path
        first = client.artifacts.meta(client.artifacts.latest(st.thread_id, "verification").id, 1)
        failures = client.artifacts.json(first)["failures"]
        # the altered quote fails verbatim; the body sentence that carries it now also says a
        # number its (real) quote does not: each failure names its rule and footnote
        kinds = {f["kind"] for f in failures}
        assert failures and "quote_not_found" in kinds
        assert kinds <= {"quote_not_found", "number_not_in_quote", "unsupported_claim"}
        assert all(f["label"] for f in failures)
        draft = client.artifacts.latest(st.thread_id, "draft")
        assert draft.version == 2 and draft.parent_version == 1
        assert verify(client.artifact(st.thread_id)[1].decode(), _corpus_texts(corpus)).ok


def test_revision_guard_boundary_reaches_human_review(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url, model=FabricatingModel(revisions_fabricated=99)) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        thread = st.thread_id
        assert st.status == "human_review"
        assert st.counters["revision_count"] == 3
        fails = [p for p in _path(client, thread) if p[1] == "citations_failed"]
        assert fails == [("verifying", "citations_failed", "drafting")] * 3 + [
            ("verifying", "citations_failed", "human_review")
        ]
        assert st.gate["review"]["failures"]
        with pytest.raises(InvalidDecision, match="requires a comment"):
            client.resume(thread, "revise", by="ana")
        st = client.resume(thread, "revise", comment="Fix the quotes in section 2", by="ana")
        assert st.status == "human_review"  # the same model fails again; count stays >= 3
        assert client.values(thread)["decisions"][-1]["comment"] == "Fix the quotes in section 2"
        st = client.resume(thread, "approve", by="carla")
        assert st.status == "completed"
        final = client.artifacts.latest(thread, "final")
        assert final.created_by == "carla" and final.step == "human_review"
        # approved despite failed citations: stored and shown as unverified, never clean
        assert final.score == 0.0 and client.values(thread)["verified"] is False
        text = client.artifact(thread, "final")[1].decode()
        assert text.splitlines()[0].startswith("# ")
        assert "> **Unverified brief.** Approved at human review by carla" in text
        assert not verify(text, _corpus_texts(corpus)).ok
        kinds = [row["kind"] for row in client.audit(thread)]
        assert kinds.count("decision") == 2


def test_human_review_abandon(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url, model=FabricatingModel(revisions_fabricated=99)) as client:
        thread = client.run("brief", topic=TOPIC, sources=[str(corpus)]).thread_id
        st = client.resume(thread, "abandon", by="ana", comment="out of scope")
        assert st.status == "abandoned" and st.final
        assert client.artifacts.latest(thread, "final") is None


def test_unknown_thread(db_url: str) -> None:
    with Lockstep(db_url) as client:
        for call in (client.status, client.resume, client.history):
            with pytest.raises(ThreadNotFound, match="unknown thread 'nope'"):
                call("nope")


def test_history_lists_checkpoints(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url) as client:
        thread = client.run("brief", topic=TOPIC, sources=[str(corpus)]).thread_id
        rows = client.history(thread)
        assert rows[0]["status"] == "completed" and rows[0]["next"] == []
        steps = [r["step"] for r in rows]
        assert steps == sorted(steps, reverse=True)
        assert {"researching", "outlining", "drafting", "verifying"} <= {r["status"] for r in rows}


def test_usage_is_recorded_and_budget_exhaustion_reaches_human_review(
    db_url: str, corpus: Path
) -> None:
    with Lockstep(db_url) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        assert st.status == "completed"
        # the outline is one model call of its own step; drafting calls the model per section
        outlining, drafting = st.usage["outlining"], st.usage["drafting"]
        assert outlining["calls"] == 1
        assert outlining["input_tokens"] > outlining["output_tokens"] > 0
        assert drafting["calls"] >= 3 and drafting["input_tokens"] > 0
        assert drafting["output_tokens"] > 0
        # research and verification call no model
        assert set(st.usage) == {"outlining", "drafting"}
        budget = st.total_tokens // 2
    with Lockstep(db_url, llm_tokens=budget) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        assert st.status == "human_review"
        assert ("drafting", "budget_exhausted", "human_review") in _path(client, st.thread_id)
        assert ("outlining", "outline_complete", "drafting") in _path(client, st.thread_id)
        assert budget <= st.total_tokens < budget + 3000  # stopped at the first step past it
        assert st.gate["review"]["reason"] == "budget" and st.gate["review"]["usage"]
