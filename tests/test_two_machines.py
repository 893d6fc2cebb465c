"""Two machines, simulated honestly: worker processes that share nothing but the PostgreSQL URL.

Each "machine" is its own working directory, `HOME` and `TMPDIR`, with no `LOCKSTEP_*` variable
but the model's; the database URL is passed on the command line. A brief submitted and started
on machine A is killed (-9) mid-drafting — its LLM call hangs on a real HTTP server — and
finished by machine B; `lockstep show` from machine C prints the final brief. Every artifact
written on A (sources, the outline, a section) is read on B from the database alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockstep import Lockstep
from tests.conftest import ROOT
from tests.fakeopenai import FakeOpenAI, serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONFIG = """\
queue_system:
  visibility_timeout: 2s
  poll_interval: 200ms
  queues: {default: {}}
"""
TOPIC = "Should Calder Bay cap and register short-term rentals?"


class Machine:
    """A working directory, HOME and TMPDIR of its own; processes get a clean environment."""

    def __init__(self, root: Path, name: str, model_url: str, logs: Path) -> None:
        self.name = name
        self.root = root / name
        self.cwd, self.home, self.tmp = self.root / "work", self.root / "home", self.root / "tmp"
        for folder in (self.cwd, self.home, self.tmp):
            folder.mkdir(parents=True)
        (self.cwd / "lockstep.yaml").write_text(CONFIG, encoding="utf-8")
        self.logs = logs
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "OPENAI_"))
        }
        self.env = {
            **inherited,
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "PYTHONPATH": str(ROOT),  # this checkout's code, wherever the process stands
            "NO_COLOR": "1",
            "LOCKSTEP_MODEL": "openai:fake",
            "OPENAI_BASE_URL": model_url,
            "OPENAI_API_KEY": "test",
        }
        self.procs: list[subprocess.Popen[str]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockstep", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def worker(self, db: str) -> subprocess.Popen[str]:
        log = self.logs / f"worker-{self.name}.log"
        with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the worker
            proc = subprocess.Popen(
                [sys.executable, "-m", "lockstep", "worker", "--db", db],
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.procs.append(proc)
        return proc

    def files(self) -> list[str]:
        """Everything under the machine's folders but the configuration the test put there."""
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and p != self.cwd / "lockstep.yaml"
        )


def wait(what: str, check: Callable[[], bool], logs: Path, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    text = {p.name: p.read_text()[-3000:] for p in logs.glob("*.log")}
    raise AssertionError(f"timed out waiting for {what}; logs: {text}")


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, dict[str, Machine], Path]]:
    # LLM calls 1 and 2 (the outline, then drafting's section 1) are answered; call 3 hangs
    fake = FakeOpenAI(script=["ok", "ok", "hang"])
    logs = tmp_path / "logs"
    logs.mkdir()
    with serve(fake) as model_url:
        made = {n: Machine(tmp_path / "machines", n, model_url, logs) for n in "abc"}
        try:
            yield fake, made, logs
        finally:
            for m in made.values():
                for p in m.procs:
                    if p.poll() is None:
                        p.kill()
                    p.wait(30)


def test_a_brief_killed_on_one_machine_is_finished_on_another(
    postgres_url: str,
    machines: tuple[FakeOpenAI, dict[str, Machine], Path],
    corpus: Path,
) -> None:
    fake, m, logs = machines
    db = postgres_url
    submitted = m["a"].run(
        "submit", "brief", "--topic", TOPIC, "--sources", str(corpus.resolve()), "--db", db
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    first = m["a"].worker(db)
    wait("machine A's drafting call to hang", fake.hanging.is_set, logs)
    with Lockstep(db, config=m["a"].cwd / "lockstep.yaml") as client:
        job = client.queue.get(job_id)
        assert job.status == "running"
        assert client.status(job.thread_id).status == "drafting"
        before = {a.name for a in client.artifacts_of(job.thread_id)}
        assert {"request", "sources", "outline", "section-1"} <= before, before
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL

        m["b"].worker(db)
        wait("machine B to finish the job", lambda: client.queue.get(job_id).final, logs)
        done = client.queue.get(job_id, events=True)
        assert done.status == "succeeded", done.events
        assert client.status(job.thread_id).status == "completed"
        starters = [e["detail"]["worker"] for e in done.events if e["kind"] == "started"]
        assert len(starters) == 2 and starters[0] != starters[1]
        artifacts = client.artifacts_of(job.thread_id)
        # B continued from A's checkpoint: A's outline is the only one, and B read it (and
        # the sources A gathered) from the database
        assert [a.version for a in artifacts if a.name == "outline"] == [1]
        assert all((a.location or "").startswith("database:") for a in artifacts)
        final = client.artifacts.text(client.artifacts.latest_complete(job.thread_id, "final"))  # type: ignore[arg-type]

    shown = m["c"].run("show", job.thread_id, "--db", db)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# ") and shown.stdout.strip() == final.strip()
    assert "[^" in shown.stdout  # a cited brief, not an empty shell

    # nothing was written where nobody asked: no .lockstep, no blob folder, on any machine
    for machine in m.values():
        assert not [f for f in machine.files() if ".lockstep" in f or "blobs" in f], machine.files()
        assert sorted(p.name for p in machine.cwd.iterdir()) == ["lockstep.yaml"]
