"""Long threads stay flat: state keeps a bounded tail of the transition log (the journal keeps
all of it), checkpoints do not grow with the thread, and history comes a page at a time
(SQLite and PostgreSQL). Speed itself is measured in benchmarks/thread_length.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockstep import Lockstep
from lockstep.db import Database
from lockstep.graphs import register_workflow
from lockstep.state.machine import MAX_LOG
from tests.test_cli import cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"
STEPS = 150


@pytest.fixture
def steps_client(db_url: str) -> Iterator[Lockstep]:
    sys.path.insert(0, str(FLOWS))
    try:
        register_workflow("steps", "steps")
        with Lockstep(db_url) as client:
            yield client
    finally:
        sys.path.remove(str(FLOWS))


def _checkpoint_bytes(db: Database, thread: str) -> list[int]:
    """Bytes stored per checkpoint for the transition log, oldest first, as the database
    holds them (SQLite keeps channel values inside the checkpoint row; Postgres keeps each
    channel version as a blob)."""
    if db.url.startswith("sqlite"):
        rows = db.query(
            "SELECT length(checkpoint) AS n FROM checkpoints WHERE thread_id = ? "
            "AND checkpoint_ns = '' ORDER BY checkpoint_id",
            (thread,),
        )
    else:
        rows = db.query(
            "SELECT length(blob) AS n FROM checkpoint_blobs WHERE thread_id = ? "
            "AND channel = 'transitions' ORDER BY version",
            (thread,),
        )
    return [int(r["n"] or 0) for r in rows]


def test_a_long_thread_keeps_a_tail_in_state_and_its_whole_log(steps_client: Lockstep) -> None:
    client = steps_client
    st = client.run("steps", thread_id="long", steps=STEPS, gate=True)
    assert st.status == "review"
    tail = client.values("long")["transitions"]
    assert len(tail) == MAX_LOG
    whole = client.transitions("long")
    # working -> working (STEPS - 1 times), then working -> review
    assert len(whole) == STEPS
    assert [t["n"] for t in whole] == list(range(1, STEPS + 1))
    assert whole[-MAX_LOG:] == tail
    assert [t["event"] for t in whole] == ["step_done"] * (STEPS - 1) + ["needs_review"]

    sizes = _checkpoint_bytes(client.db, "long")
    assert len(sizes) >= STEPS
    early = sizes[MAX_LOG + 10 : MAX_LOG + 40]
    late = sizes[-30:]
    # flat once the tail is full: the last checkpoints are no bigger than early ones
    assert sum(late) / len(late) <= 1.25 * sum(early) / len(early), (early, late)


def test_history_pages_and_the_log_after_a_rollback(steps_client: Lockstep) -> None:
    client = steps_client
    client.run("steps", thread_id="paged", steps=60, gate=True)
    everything = client.history("paged")
    pages: list[dict[str, object]] = []
    before = None
    while True:
        page = client.history("paged", limit=25, before=before)
        if not page:
            break
        assert len(page) <= 25
        pages.extend(page)
        before = str(page[-1]["checkpoint_id"])
    assert [r["checkpoint_id"] for r in pages] == [r["checkpoint_id"] for r in everything]
    with pytest.raises(Exception, match="invalid checkpoint ID"):
        client.history("paged", limit=5, before="../etc")

    # roll back 20 transitions, then finish again: the whole log is the live branch only
    log = client.transitions("paged")
    back_to = next(
        r
        for r in everything
        if r["status"] == "working" and r["next"] == ["working"] and r["step"] == 40
    )
    client.rollback("paged", to=str(back_to["checkpoint_id"]), reason="test", by="ops")
    st = client.resume("paged")
    assert st.status == "review"
    again = client.resume("paged", "approve", by="ops")
    assert again.status == "done"
    after = client.transitions("paged")
    assert [t["n"] for t in after] == list(range(1, len(after) + 1))
    assert [t["event"] for t in after][: len(log)] == [t["event"] for t in log]
    assert after[-1]["to"] == "done"
    kept = len([t for t in after if t in log])
    assert kept < len(log)  # the re-run part was journaled again; the superseded one is gone


def test_cli_history_prints_one_page_and_how_to_get_the_next(
    steps_client: Lockstep, db_url: str, tmp_path: Path
) -> None:
    steps_client.run("steps", thread_id="cli-paged", steps=30, gate=True)
    config = tmp_path / "lockstep.yaml"
    config.write_text("workflows: {steps: steps}\n", encoding="utf-8")
    env = {
        "LOCKSTEP_CONFIG": str(config),
        "PYTHONPATH": os.pathsep.join([str(FLOWS), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    page = json.loads(
        cli("history", "cli-paged", "--limit", "10", "--json", db=db_url, env=env).stdout
    )
    assert len(page) == 10
    first = cli("history", "cli-paged", "--limit", "10", db=db_url, env=env)
    assert page[-1]["checkpoint_id"] in first.stdout
    hint = first.stdout.strip().splitlines()[-1]
    assert hint.startswith("older: lockstep history cli-paged --before ")
    older = hint.rsplit(" ", 1)[-1]
    assert older == page[-1]["checkpoint_id"]
    second = json.loads(
        cli(
            "history", "cli-paged", "--limit", "10", "--before", older, "--json", db=db_url, env=env
        ).stdout
    )
    everything = steps_client.history("cli-paged")
    assert [r["checkpoint_id"] for r in page + second] == [
        r["checkpoint_id"] for r in everything[:20]
    ]
    bad = cli("history", "cli-paged", "--before", "[/]", db=db_url, env=env, check=1)
    assert "invalid checkpoint ID" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
