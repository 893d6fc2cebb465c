"""The `lockstep` CLI as a user runs it: real subprocesses on a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lockstep import Lockstep
from tests.conftest import CORPUS, ROOT

TOPIC = "Should Calder Bay cap and register short-term rentals?"
pytestmark = pytest.mark.slow


def cli(
    *args: str, db: str | None = None, env: dict[str, str] | None = None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    extra = ["--db", db] if db else []
    proc = subprocess.run(
        [sys.executable, "-m", "lockstep", *args, *extra],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_run_status_history_show_verify(db: str, tmp_path: Path) -> None:
    run = cli(
        "run", "brief", "--topic", TOPIC, "--sources", str(CORPUS), "--thread-id", "t1", db=db
    )
    assert "thread  t1" in run.stdout and "status  completed" in run.stdout
    assert "path    requested → researching ×" in run.stdout

    status = json.loads(cli("status", "t1", "--json", db=db).stdout)
    assert status["status"] == "completed" and status["final"] is True
    assert status["transitions"][-1]["to"] == "completed"

    history = json.loads(cli("history", "t1", "--json", db=db).stdout)
    assert history[0]["status"] == "completed" and len(history) > 10

    shown = json.loads(cli("show", "t1", "--artifact", "final", "--json", db=db).stdout)
    assert set(shown) == {"content", "citations", "version", "sha256"}
    assert shown["citations"] and {"n", "source", "quote"} == set(shown["citations"][0])

    brief = tmp_path / "brief.md"
    brief.write_text(shown["content"], encoding="utf-8")
    ok = cli("verify", str(brief), "--sources", str(CORPUS), "--json")
    assert json.loads(ok.stdout)["ok"] is True

    first = shown["citations"][0]
    tampered = shown["content"].replace(first["quote"], first["quote"].replace(" ", " not ", 1))
    brief.write_text(tampered, encoding="utf-8")
    bad = cli("verify", str(brief), "--sources", str(CORPUS), check=1)
    assert "FAIL" in bad.stdout and "quote_not_found" not in bad.stdout  # messages, not kinds
    assert f"[^{first['n']}]" in bad.stdout or first["source"] in bad.stdout


def test_rejected_run_exits_3(db: str) -> None:
    proc = cli("run", "brief", "--topic", "   ", "--sources", str(CORPUS), db=db, check=3)
    assert "status  rejected" in proc.stdout and "topic is empty" in proc.stdout


def test_user_errors_are_one_line(db: str, tmp_path: Path) -> None:
    proc = cli("status", "no-such-thread", db=db, check=1)  # read-only: nothing created
    assert proc.stderr.strip() == f"error: no SQLite database at {tmp_path / 'cli.db'}"
    Lockstep(db).close()
    proc = cli("status", "no-such-thread", db=db, check=2)
    assert proc.stderr.strip() == "error: unknown thread 'no-such-thread'"
    proc = cli("run", "brief", "--topic", TOPIC, "--sources", str(tmp_path / "x"), db=db, check=1)
    assert proc.stderr.strip().splitlines()[-1].startswith("error: sources folder")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite" * 100)
    proc = cli("status", "t", db=f"sqlite:///{corrupt}", check=1)
    assert str(corrupt) in proc.stderr and "not a database" in proc.stderr
    proc = cli("status", "t", db="mysql://x", check=1)
    assert "unsupported database URL" in proc.stderr


def test_gate_resumed_from_a_new_process(db: str, tmp_path: Path) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for doc in sorted(CORPUS.glob("*.md"))[:2]:
        shutil.copy(doc, few / doc.name)
    run = cli("run", "brief", "--topic", TOPIC, "--sources", str(few), "--thread-id", "g1", db=db)
    assert "human_input_needed" in run.stdout and "add_sources, proceed, cancel" in run.stdout
    before = json.loads(cli("status", "g1", "--json", db=db).stdout)
    assert before["gate"]["gate"] == "human_input_needed"
    bad = cli("resume", "g1", "--decision", "approve", db=db, check=1)
    assert "does not allow decision 'approve'" in bad.stderr
    after = json.loads(cli("status", "g1", "--json", db=db).stdout)
    assert after["checkpoint_id"] == before["checkpoint_id"]
    done = cli(
        "resume", "g1", "--decision", "add_sources", "--sources", str(CORPUS), "--by", "ana", db=db
    )
    assert "status  completed" in done.stdout
    again = cli("resume", "g1", db=db, check=1)
    assert "is completed; there is nothing to resume" in again.stderr


def test_kill_9_during_drafting_then_resume(db: str, tmp_path: Path) -> None:
    """A crash mid-drafting loses nothing: resume re-runs the interrupted step only."""
    env = {**os.environ, "LOCKSTEP_OFFLINE_DELAY": "0.4", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockstep",
            "run",
            "brief",
            "--topic",
            TOPIC,
            "--sources",
            str(CORPUS),
            "--thread-id",
            "k1",
            "--db",
            db,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    with Lockstep(db) as watcher:
        while time.monotonic() < deadline:
            if watcher.db.thread("k1") is not None:
                log = watcher.transitions("k1")
                if sum(t["event"] == "section_written" for t in log) >= 1:
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the run never reached drafting")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        crashed = watcher.status("k1")
        assert crashed.status == "drafting", crashed
        assert crashed.interrupted, crashed
        research_before = [
            r
            for r in watcher.audit("k1")
            if r["kind"] == "transition" and r["detail"]["from"] == "researching"
        ]
        sources_versions = watcher.artifacts.latest("k1", "sources").version

    done = cli("resume", "k1", db=db)
    assert "status  completed" in done.stdout
    with Lockstep(db) as after:
        audit = after.audit("k1")
        research_after = [
            r for r in audit if r["kind"] == "transition" and r["detail"]["from"] == "researching"
        ]
        assert research_after == research_before  # research did not run again
        log = after.transitions("k1")
        assert [t for t in log if t["from"] == "researching"] == [
            r["detail"] for r in research_before
        ]
        assert after.artifacts.latest("k1", "sources").version == sources_versions
        # each section was written once: the re-run step's identical output is not a new version
        outline = after.artifacts.json(after.artifacts.latest("k1", "outline"))
        for i in range(1, len(outline["sections"]) + 1):
            assert after.artifacts.latest("k1", f"section-{i}").version == 1
        assert sum(t["event"] == "section_written" for t in log) == len(outline["sections"])


def test_kill_9_during_outlining_resumes_at_outlining(db: str, tmp_path: Path) -> None:
    """A crash inside the outline's model call: the thread is still at `outlining`, resume
    re-runs that step only (research is not repeated) and the outline is written once."""
    env = {**os.environ, "LOCKSTEP_OFFLINE_DELAY": "3", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "lockstep", "run", "brief", "--topic", TOPIC]
    command += ["--sources", str(CORPUS), "--thread-id", "o1", "--db", db]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    with Lockstep(db) as watcher:
        while time.monotonic() < deadline:
            if watcher.db.thread("o1") is not None:
                log = watcher.transitions("o1")
                if log and log[-1]["to"] == "outlining":
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the run never reached outlining")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        crashed = watcher.status("o1")
        assert crashed.status == "outlining", crashed
        assert crashed.interrupted and crashed.next == ["outlining"], crashed
        assert watcher.artifacts.latest("o1", "outline") is None  # killed inside the call
        before = watcher.transitions("o1")

    done = cli("resume", "o1", db=db)
    assert "status  completed" in done.stdout
    with Lockstep(db) as after:
        log = after.transitions("o1")
        assert log[: len(before)] == before  # nothing before outlining ran again
        path = [(t["from"], t["event"], t["to"]) for t in log[len(before) :]]
        assert path[0] == ("outlining", "outline_complete", "drafting")
        assert path.count(("outlining", "outline_complete", "drafting")) == 1
        assert after.artifacts.latest("o1", "outline").version == 1


def test_diagram(tmp_path: Path) -> None:
    png = tmp_path / "brief.png"
    proc = cli("diagram", "brief", "--png", str(png))
    assert proc.stdout.startswith("stateDiagram-v2")
    assert "citations_failed [revision_count < 3]" in proc.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "unknown workflow 'nope'" in cli("diagram", "nope", check=1).stderr


def test_review_gate_resumed_from_a_new_process(db: str) -> None:
    from tests.models import FabricatingModel

    with Lockstep(db, model=FabricatingModel(revisions_fabricated=99)) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(CORPUS)], thread_id="r1")
        assert st.status == "human_review"
    status = json.loads(cli("status", "r1", "--json", db=db).stdout)
    assert status["gate"]["gate"] == "human_review"
    assert set(status["gate"]["decisions"]) == {"approve", "revise", "abandon"}
    bad = cli("resume", "r1", "--decision", "revise", db=db, check=1)
    assert "requires a comment" in bad.stderr
    done = cli("resume", "r1", "--decision", "approve", "--by", "carla", db=db)
    assert "status  completed" in done.stdout
    with Lockstep(db) as after:
        assert after.values("r1")["decisions"][-1]["by"] == "carla"


def test_two_processes_share_one_sqlite_file(db: str) -> None:
    """Concurrent writers on one file wait on the busy timeout instead of failing."""
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockstep",
                "run",
                "brief",
                "--topic",
                TOPIC,
                "--sources",
                str(CORPUS),
                "--thread-id",
                f"p{i}",
                "--db",
                db,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        out, errs = proc.communicate(timeout=300)
        assert proc.returncode == 0, errs
        assert "locked" not in errs and "status  completed" in out
    with Lockstep(db) as client:
        assert {t["thread_id"] for t in client.threads()} == {"p0", "p1", "p2"}
