"""The four recovery modes and retention, each driven from a separate `lockstep` process,
with the audit trail showing who did what and why (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lockstep import Lockstep, ThreadStateError
from tests.models import FabricatingModel
from tests.test_cli import TOPIC, cli

pytestmark = pytest.mark.slow


def _run(db: str, corpus: Path, thread: str, revisions_fabricated: int = 1) -> str:
    model = FabricatingModel(revisions_fabricated=revisions_fabricated)
    with Lockstep(db, model=model) as client:
        client.run("brief", topic=TOPIC, sources=[str(corpus)], thread_id=thread)
    return thread


def test_rollback_then_resume_makes_a_new_final_version(db_url: str, corpus: Path) -> None:
    thread = _run(db_url, corpus, "rb")
    other = _run(db_url, corpus, "other", revisions_fabricated=0)
    with Lockstep(db_url) as client:
        final_v1 = client.artifacts.latest(thread, "final")
        assert final_v1 is not None and final_v1.version == 1
        v1_text = client.artifacts.text(final_v1)
        head = client.history(thread)[0]["checkpoint_id"]
        foreign = client.history(other)[3]["checkpoint_id"]

    refused = cli("resume", thread, db=db_url, check=1)
    assert "is completed; there is nothing to resume; use rollback" in refused.stderr
    wrong = cli("rollback", thread, "--to", foreign, db=db_url, check=1)
    assert f"error: checkpoint {foreign} is not in thread {thread}" in wrong.stderr
    same = cli("rollback", thread, "--to", head, db=db_url, check=1)
    assert "is already the head" in same.stderr

    rolled = cli(
        "rollback",
        thread,
        "--state",
        "drafting",
        "--reason",
        "bad sources",
        "--by",
        "ops",
        db=db_url,
    )
    assert "status  drafting" in rolled.stdout and f"lockstep resume {thread}" in rolled.stdout
    with Lockstep(db_url) as client:
        history = client.history(thread)
        assert history[0]["status"] == "drafting" and not history[0]["superseded"]
        assert any(r["superseded"] and r["checkpoint_id"] == head for r in history)
        assert client.artifacts.meta(final_v1.id, 1).status == "superseded"
        entry = [r for r in client.audit(thread) if r["kind"] == "rollback"][-1]
        assert entry["actor"] == "ops" and entry["detail"]["reason"] == "bad sources"
        assert f"final@1 ({final_v1.id})" in entry["detail"]["superseded_artifacts"]
    shown = cli("show", thread, "--artifact", "final", db=db_url, check=1)
    assert "has no 'final' artifact yet (latest final@1 is superseded)" in shown.stderr
    assert "completed (superseded)" in cli("history", thread, db=db_url).stdout
    future = cli("rollback", thread, "--to", head, db=db_url, check=1)
    assert "superseded branch" in future.stderr

    done = cli("resume", thread, db=db_url)
    assert "status  completed" in done.stdout
    with Lockstep(db_url) as client:
        final_v2 = client.artifacts.latest(thread, "final")
        assert final_v2 is not None and final_v2.version == 2 and final_v2.status == "complete"
        assert final_v2.id == final_v1.id
        old_meta, old_bytes = client.artifact_content(f"{final_v1.id}@1")
        assert old_meta.status == "superseded" and old_bytes.decode() == v1_text
        assert client.status(thread).status == "completed"
        assert client.artifact(thread, "final")[0].version == 2
        kinds = [r["kind"] for r in client.audit(thread)]
        assert kinds.index("rollback") < kinds.index("resume")  # the operator's retry, journaled


def test_escalate_then_abandon_from_other_processes(db_url: str, corpus: Path) -> None:
    thread = _run(db_url, corpus, "esc", revisions_fabricated=0)
    with Lockstep(db_url) as client:
        target = next(r for r in client.history(thread) if r["next"] == ["verifying"])
    rolled = cli("rollback", thread, "--to", target["checkpoint_id"], "--by", "ops", db=db_url)
    assert "status  verifying" in rolled.stdout  # a thread mid-run again
    with Lockstep(db_url) as client:
        assert client.status(thread).next == ["verifying"]
        with pytest.raises(ThreadStateError, match="needs a reason"):
            client.escalate(thread, reason=" ")

    esc = cli("escalate", thread, "--reason", "looping on citations", "--by", "ops", db=db_url)
    assert "status  human_review" in esc.stdout and "gate    human_review" in esc.stdout
    again = cli("escalate", thread, "--reason", "x", db=db_url, check=1)
    assert "already waiting at 'human_review'" in again.stderr
    with Lockstep(db_url) as client:
        st = client.status(thread)
        assert st.gate is not None and st.gate["gate"] == "human_review"
        assert st.transitions[-1]["event"] == "escalated"
        assert st.transitions[-1]["from"] == "verifying"
        row = [r for r in client.audit(thread) if r["kind"] == "escalate"][-1]
        assert row["actor"] == "ops" and row["detail"]["reason"] == "looping on citations"

    # the abandon was carried out: exit 0 (4 is for a run that ends abandoned)
    gone = cli("abandon", thread, "--reason", "out of budget", "--by", "ana", db=db_url, check=0)
    assert "status  abandoned" in gone.stdout
    with Lockstep(db_url) as client:
        st = client.status(thread)
        assert st.status == "abandoned" and st.final and st.gate is None
        partial = [a for a in client.artifacts_of(thread) if a.status == "incomplete"]
        assert "draft" in {a.name for a in partial}
        assert all(a.created_by == "ana" and a.step == "abandon" for a in partial)
        row = [r for r in client.audit(thread) if r["kind"] == "abandoned"][-1]
        assert row["actor"] == "ana" and row["detail"]["reason"] == "out of budget"
        assert client.transitions(thread)[-1]["to"] == "abandoned"
    for args in (("resume", thread), ("rollback", thread, "--state", "drafting")):
        refused = cli(*args, db=db_url, check=1)
        assert "abandoned" in refused.stderr and "cannot be" in refused.stderr
    cli("abandon", thread, "--reason", "twice", db=db_url, check=1)
    log = json.loads(cli("audit", thread, "--json", db=db_url).stdout)
    kinds = [r["kind"] for r in log]
    assert {"transition", "artifact", "rollback", "escalate", "abandoned"} <= set(kinds)
    assert kinds.index("rollback") < kinds.index("escalate") < kinds.index("abandoned")
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)
    table = cli("audit", thread, db=db_url).stdout
    assert "verifying --escalated--> human_review" in table


def test_prune_keep_latest_then_all(db_url: str, corpus: Path) -> None:
    done = _run(db_url, corpus, "done", revisions_fabricated=0)
    waiting = _run(db_url, corpus, "waiting", revisions_fabricated=99)
    later = datetime.now(UTC) + timedelta(days=8)
    with Lockstep(db_url, clock=lambda: later) as client:
        assert client.status(waiting).gate is not None
        counts = {t: client._checkpoint_count(t) for t in (done, waiting)}
        assert counts[done] > 5
        with Lockstep(db_url) as now_client:  # nothing is 7 days old yet
            assert now_client.prune(timedelta(days=7))["threads"] == []
        dry = client.prune(timedelta(days=7), keep_latest=True, dry_run=True)
        assert dry["threads"] == [
            {"thread_id": done, "checkpoints": counts[done] - 1, "artifacts": 0}
        ]
        assert dry["skipped"] == [{"thread_id": waiting, "status": "human_review"}]
        assert client._checkpoint_count(done) == counts[done]
        client.prune(timedelta(days=7), keep_latest=True, by="ops")
        assert client._checkpoint_count(done) == 1
        assert client.status(done).status == "completed"
        assert client._checkpoint_count(waiting) == counts[waiting]
        final = client.artifacts.latest(done, "final")
        assert final is not None and client.artifacts.text(final).startswith("# ")
        final_sha = final.sha256  # a file beside SQLite, a row of lockstep_blobs on Postgres
        assert final_sha in {sha for sha, _ in client.artifacts.blobs.shas()}

    out = cli("prune", "--older-than", "0s", "--artifacts", db=db_url).stdout
    assert f"{done}: removed 1 checkpoints" in out and f"{waiting}: skipped" in out
    collected = re.search(r"removed (\d+) unreferenced blobs", out)
    assert collected and int(collected[1]) > 0, out
    with Lockstep(db_url) as client:
        assert client._checkpoint_count(done) == 0
        assert client.artifacts_of(done) == []
        stored = {sha for sha, _ in client.artifacts.blobs.shas()}
        assert final_sha not in stored  # held only by the pruned thread's artifacts
        assert [r["kind"] for r in client.audit(done)].count("prune") == 2  # audit log kept
        st = client.status(waiting)  # untouched, still answerable
        assert st.gate is not None and st.gate["gate"] == "human_review"
        draft = client.artifacts.latest(waiting, "draft")
        assert draft is not None and client.artifacts.text(draft)  # its blobs survived GC
        with pytest.raises(ThreadStateError, match="no checkpoint"):
            client.resume(done)


def test_crash_between_a_steps_writes_and_its_checkpoint_resumes(db_url: str, corpus: Path) -> None:
    """A process killed after LangGraph saved a step's writes but before the step's checkpoint
    leaves a head whose `next` is empty though the step is not closed: it is still resumable,
    and resuming closes the step without running it again (CI caught this window by kill -9)."""
    thread = _run(db_url, corpus, "window", revisions_fabricated=0)
    with Lockstep(db_url) as client:
        done = client.status(thread)
        assert done.final and done.status == "completed"
        head = client.history(thread)[0]["checkpoint_id"]
        final = client.artifacts.latest(thread, "final")
        assert final is not None
        # the state the kill leaves: the closing checkpoint never written, its writes saved
        client.db.execute(
            "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id = ?", (thread, head)
        )
        crashed = client.status(thread)
        assert not crashed.final and crashed.interrupted and crashed.next
        assert crashed.status == "completed"  # the step's output, not yet checkpointed
        st = client.resume(thread)
        assert st.final and st.status == "completed"
        assert client.history(thread)[0]["checkpoint_id"] != head
        assert client.artifacts.latest(thread, "final") == final  # the step did not run again
