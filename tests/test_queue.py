"""The job queue with real worker subprocesses, on SQLite and on a real PostgreSQL server.

Jobs run `examples/workflows/steps` (N checkpointed units of work, each appending to a trace
file), so tests can count what ran where. Every time-based check reads the job records and
events the workers wrote; nothing asserts how fast anything was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockstep import Lockstep
from lockstep.errors import ConfigError, RateLimited, SubmitRefused
from lockstep.queue import JobQueue, load_config
from lockstep.queue.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"


class QueueEnv:
    """A database, a lockstep.yaml and helpers to run workers and read jobs."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.config_path = tmp / "lockstep.yaml"
        self.procs: list[subprocess.Popen[str]] = []
        # the checkout's own lockstep first (not whatever the venv has installed), then FLOWS
        path = [str(FLOWS), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        sys.path.insert(0, str(FLOWS))

    def configure(self, text: str) -> JobQueue:
        self.config_path.write_text("workflows: {steps: steps}\n" + text, encoding="utf-8")
        self.client = Lockstep(self.url, config=load_config(self.config_path))
        return self.client.queue

    @property
    def queue(self) -> JobQueue:
        return self.client.queue

    def worker(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockstep", "worker", "--db", self.url, *self.cfg, *args],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def ready_worker(self, *args: str) -> subprocess.Popen[str]:
        """A worker that has started (it prints its ID first)."""
        proc = self.worker(*args)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("worker "), line
        return proc

    @property
    def cfg(self) -> list[str]:
        return ["--config", str(self.config_path)]

    def cli(self, *args: str, config: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command; `config=False` leaves it to find ./lockstep.yaml by itself."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "lockstep",
                *args,
                "--db",
                self.url,
                *(self.cfg if config else []),
            ],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return
            time.sleep(0.1)
        logs = []
        for p in self.procs:
            if p.poll() is not None and p.stderr:
                logs.append(p.stderr.read()[-2000:])
        raise AssertionError(f"timed out waiting for {what}; worker logs: {logs}")

    def all_final(self, ids: list[str]) -> Callable[[], bool]:
        return lambda: all(self.queue.get(i).final for i in ids)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


@pytest.fixture
def qenv(db_url: str, tmp_path: Path) -> Iterator[QueueEnv]:
    env = QueueEnv(db_url, tmp_path)
    try:
        yield env
    finally:
        env.stop_all()
        sys.path.remove(str(FLOWS))


def intervals(queue: JobQueue, ids: list[str]) -> list[tuple[float, float]]:
    """(start, end) of every attempt of every job, from its lifecycle events."""
    spans = []
    for job_id in ids:
        start = None
        for e in queue.events(job_id):
            if e["kind"] == "started":
                start = e["at"]
            elif start is not None and e["kind"] in (
                "succeeded",
                "failed",
                "retrying",
                "released",
                "waiting_human",
                "cancelled",
                "timed_out",
                "dead_lettered",
            ):
                spans.append((start, e["at"]))
                start = None
    return spans


def odd_events(queue: JobQueue, ids: list[str]) -> list[str]:
    """Events other than the happy path's, to explain a failed assertion."""
    usual = {"submitted", "started", "checkpointed", "succeeded"}
    return [
        f"{j} {e['kind']} {e['detail']}"
        for j in ids
        for e in queue.events(j)
        if e["kind"] not in usual
    ]


def max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted(
        [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda p: (p[0], p[1])
    )
    most = current = 0
    for _, step in points:
        current += step
        most = max(most, current)
    return most


def trace_units(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(t, int(n)) for t, n in (line.split() for line in path.read_text().splitlines())]


# -- ordering and limits -------------------------------------------------------------------


def test_priority_order_then_fifo(qenv: QueueEnv) -> None:
    queue = qenv.configure("")
    order = ["batch", "normal", "urgent", "normal", "batch", "urgent", "7", "urgent"]
    ids = [queue.submit("steps", {"steps": 1}, priority=p).id for p in order]
    qenv.worker("--concurrency", "1")
    qenv.wait("all jobs", qenv.all_final(ids))
    started = sorted(
        ((e["seq"], j) for j in ids for e in queue.events(j) if e["kind"] == "started"),
    )
    ran = [order[ids.index(j)] for _, j in started]
    assert ran == ["urgent", "urgent", "urgent", "7", "normal", "normal", "batch", "batch"]
    urgent = [j for _, j in started if order[ids.index(j)] == "urgent"]
    assert urgent == [ids[2], ids[5], ids[7]]  # FIFO within a priority
    assert all(queue.get(j).status == "succeeded" for j in ids)


def test_concurrency_limit_holds_across_three_workers(qenv: QueueEnv) -> None:
    queue = qenv.configure("queue_system:\n  queues:\n    default: {concurrency_limit: 2}\n")
    for _ in range(3):
        qenv.ready_worker()
    ids = [queue.submit("steps", {"steps": 1, "seconds": 0.05}).id for _ in range(60)]
    qenv.wait("60 jobs", qenv.all_final(ids), timeout=240)
    jobs = [queue.get(j) for j in ids]
    assert [j.status for j in jobs] == ["succeeded"] * 60
    spans = intervals(queue, ids)
    assert len(spans) == 60, odd_events(queue, ids)  # one attempt each: none ran twice
    assert max_overlap(spans) == 2
    workers = {
        e["detail"]["worker"] for j in ids for e in queue.events(j) if e["kind"] == "started"
    }
    assert len(workers) >= 2


def test_singleton_workflow_runs_one_at_a_time(qenv: QueueEnv) -> None:
    queue = qenv.configure("concurrency:\n  workflows:\n    steps: {singleton: true}\n")
    qenv.ready_worker("--concurrency", "2")
    qenv.ready_worker("--concurrency", "2")
    ids = [queue.submit("steps", {"steps": 1, "seconds": 0.1}).id for _ in range(6)]
    qenv.wait("6 jobs", qenv.all_final(ids))
    assert max_overlap(intervals(queue, ids)) == 1


def test_reject_behaviour_and_dedup(qenv: QueueEnv) -> None:
    queue = qenv.configure("concurrency:\n  workflows:\n    steps: {limit: 2, behavior: reject}\n")
    first = queue.submit("steps", {"steps": 1}, idempotency_key="order-17")
    again = queue.submit("steps", {"steps": 1}, idempotency_key="order-17")
    assert again.id == first.id
    queue.submit("steps", {"steps": 1})
    with pytest.raises(SubmitRefused, match="behavior is reject"):
        queue.submit("steps", {"steps": 1})
    assert len(queue.find()) == 2
    proc = qenv.cli("submit", "workflow", "steps", "--input", '{"steps": 1}')
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "limit is 2" in proc.stderr
    dup = qenv.cli("submit", "workflow", "steps", "--idempotency-key", "order-17")
    assert dup.returncode == 0 and dup.stdout.strip() == first.id


def test_start_rate_limit_never_exceeded_in_any_window(qenv: QueueEnv) -> None:
    queue = qenv.configure(
        "rate_limits:\n"
        "  job_starts: {limit: 3, per: 1s, applies_to: start, strategy: sliding_window}\n"
    )
    ids = [queue.submit("steps", {"steps": 1}).id for _ in range(10)]
    qenv.worker("--concurrency", "3")
    qenv.wait("10 jobs", qenv.all_final(ids))
    starts = sorted(e["at"] for j in ids for e in queue.events(j) if e["kind"] == "started")
    assert len(starts) == 10, odd_events(queue, ids)
    for t in starts:
        assert sum(t <= s < t + 1.0 for s in starts) <= 3
    assert starts[-1] - starts[0] >= 3.0  # 10 starts at 3 per second need 3 full windows


def test_submit_rate_limit_per_user(qenv: QueueEnv) -> None:
    queue = qenv.configure(
        "rate_limits:\n"
        "  brief_creation: {limit: 2, per: 1h, scope: user, applies_to: submit, workflow: steps}\n"
    )
    queue.submit("steps", {"steps": 1}, user="ana")
    queue.submit("steps", {"steps": 1}, user="ana")
    with pytest.raises(RateLimited) as refused:
        queue.submit("steps", {"steps": 1}, user="ana")
    assert 3500 < refused.value.retry_after <= 3600
    queue.submit("steps", {"steps": 1}, user="ben")  # another user's bucket
    assert len(queue.find()) == 3


# -- failures ------------------------------------------------------------------------------


def test_retries_then_dead_letter_then_requeue_and_purge(qenv: QueueEnv) -> None:
    queue = qenv.configure(
        "queue_system:\n  retry: {max_retries: 2, base_delay: 0.1s}\n  queues: {default: {}}\n"
    )
    bad = queue.submit("steps", {"steps": 1, "fail": "always"})
    worse = queue.submit("steps", {"steps": 1, "fail": "always"})
    good = queue.submit("steps", {"steps": 1})
    worker = qenv.worker()
    qenv.wait("dead letters", qenv.all_final([bad.id, worse.id, good.id]))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    job = queue.get(bad.id, events=True)
    assert (job.status, job.queue, job.origin_queue, job.attempts) == (
        "dead_lettered",
        "dead_letters",
        "default",
        3,
    )
    kinds = [e["kind"] for e in job.events]
    assert kinds.count("retrying") == 2 and kinds[-1] == "dead_lettered"
    assert "scripted failure" in (job.error or "")
    assert queue.get(good.id).status == "succeeded"
    listed = json.loads(qenv.cli("dlq", "list", "--json").stdout)
    assert sorted(j["id"] for j in listed) == sorted([bad.id, worse.id])
    shown = qenv.cli("dlq", "show", bad.id)
    assert "retrying" in shown.stdout and "scripted failure" in shown.stdout
    assert qenv.cli("dlq", "requeue", bad.id).returncode == 0
    back = queue.get(bad.id)
    assert (back.status, back.queue, back.attempts) == ("queued", "default", 0)
    assert qenv.cli("dlq", "requeue", good.id).returncode == 1  # not a dead letter
    assert qenv.cli("dlq", "purge").returncode == 1  # names or --all, never by accident
    assert qenv.cli("dlq", "purge", "--all").stdout.strip() == "purged 1 dead-lettered job(s)"
    assert [j.id for j in queue.find()] == [bad.id, good.id]


def test_kill_9_lease_takeover_reruns_no_completed_step(qenv: QueueEnv) -> None:
    queue = qenv.configure("queue_system:\n  visibility_timeout: 2s\n  queues: {default: {}}\n")
    trace = qenv.tmp / "trace.txt"
    job = queue.submit("steps", {"steps": 8, "seconds": 0.3, "trace": str(trace)})
    first = qenv.worker()
    qenv.wait("two units", lambda: len(trace_units(trace)) >= 2)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    committed = int(qenv.client.values(job.thread_id).get("done_steps") or 0)
    assert queue.get(job.id).status == "running"  # nobody released it: the lease must expire
    qenv.worker()
    qenv.wait("takeover", qenv.all_final([job.id]))
    done = queue.get(job.id, events=True)
    assert done.status == "succeeded" and done.outcome == "done"
    units = [n for _, n in trace_units(trace)]
    assert sorted(set(units)) == list(range(1, 9))
    for unit in range(1, committed + 1):
        assert units.count(unit) == 1, f"unit {unit} was checkpointed, yet ran again"
    assert len(units) - 8 <= 1  # at most the unit in flight at the kill ran twice
    kinds = [e["kind"] for e in done.events]
    assert "lease_expired" in kinds
    starters = [e["detail"]["worker"] for e in done.events if e["kind"] == "started"]
    assert len(starters) == 2 and starters[0] != starters[1]


def test_sigterm_drains_and_another_worker_finishes(qenv: QueueEnv) -> None:
    queue = qenv.configure("")
    trace = qenv.tmp / "trace.txt"
    job = queue.submit("steps", {"steps": 10, "seconds": 0.3, "trace": str(trace)})
    first = qenv.worker()
    qenv.wait("two units", lambda: len(trace_units(trace)) >= 2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    released = queue.get(job.id, events=True)
    assert released.status == "queued" and released.attempts == 0
    assert released.events[-1]["kind"] == "released"
    qenv.worker()
    qenv.wait("finish", qenv.all_final([job.id]))
    units = [n for _, n in trace_units(trace)]
    assert units == list(range(1, 11))  # drained at a boundary: nothing ran twice


# -- timeouts and cancellation -------------------------------------------------------------


def test_step_timeout_ends_job_timed_out_and_resume_continues(qenv: QueueEnv) -> None:
    queue = qenv.configure("timeouts:\n  step_default: 1h\n  steps: {working: 0.2s}\n")
    job = queue.submit("steps", {"steps": 2, "seconds": 0.4})
    qenv.worker()
    qenv.wait("timeout", qenv.all_final([job.id]))
    timed = queue.get(job.id, events=True)
    assert timed.status == "timed_out"
    assert "step 'working' ran" in (timed.error or "")
    assert [e["kind"] for e in timed.events][-1] == "timed_out"
    state = qenv.client.status(timed.thread_id)
    assert not state.final and state.interrupted  # saved at the boundary, resumable
    resumed = qenv.cli("resume", timed.thread_id, config=False)
    assert resumed.returncode == 0 and timed.id in resumed.stdout
    qenv.wait("continuation", qenv.all_final([job.id]))
    # the last step overran too, but the work was done: finishing beats timing out
    assert queue.get(job.id).status == "succeeded"
    assert qenv.client.values(timed.thread_id)["done_steps"] == 2


def test_workflow_total_excludes_gate_time_and_resume_finishes(qenv: QueueEnv) -> None:
    # 5 s, not less: the gated job's first run includes the worker's warm-up, which a loaded
    # machine stretches; the limit must sit well above that and well below the long job
    queue = qenv.configure("timeouts:\n  workflow_total: 5s\n")
    long = queue.submit("steps", {"steps": 12, "seconds": 0.8})
    gated = queue.submit("steps", {"steps": 1, "seconds": 0.1, "gate": True})
    qenv.worker("--concurrency", "2")
    qenv.wait(
        "timeout and gate",
        lambda: queue.get(long.id).final and queue.get(gated.id).status == "waiting_human",
    )
    timed = queue.get(long.id)
    assert timed.status == "timed_out" and "over its 5s limit" in (timed.error or "")
    done_steps = qenv.client.values(long.thread_id)["done_steps"]
    assert 2 <= done_steps < 12
    time.sleep(5.5)  # waiting at the gate does not count against workflow_total
    decided = qenv.cli(
        "resume", gated.thread_id, "--decision", "approve", "--by", "ana", config=False
    )
    assert decided.returncode == 0, decided.stderr
    qenv.wait("approval", qenv.all_final([gated.id]))
    assert queue.get(gated.id).status == "succeeded"
    assert qenv.client.status(gated.thread_id).status == "done"


def test_step_timeout_marks_partial_brief_artifacts_incomplete(
    qenv: QueueEnv, corpus: Path
) -> None:
    queue = qenv.configure("timeouts:\n  steps: {drafting: 1ms}\n")
    job = queue.submit("brief", {"topic": "Short-term rental caps", "sources": [str(corpus)]})
    qenv.worker()
    qenv.wait("timeout", qenv.all_final([job.id]))
    timed = queue.get(job.id)
    assert timed.status == "timed_out" and "saved incomplete: outline@" in (timed.error or "")
    outline = [a for a in qenv.client.artifacts_of(timed.thread_id) if a.name == "outline"]
    assert outline[-1].status == "incomplete"


def test_cancel_queued_running_and_children(qenv: QueueEnv) -> None:
    queue = qenv.configure("cancellation: {cleanup_wait: 20s}\n")
    queued = queue.submit("steps", {"steps": 1}, queue="default")
    assert [j.status for j in queue.cancel(queued.id)] == ["cancelled"]
    parent = queue.submit("steps", {"steps": 50, "seconds": 0.2}, priority="urgent")
    child = queue.submit("steps", {"steps": 1}, parent_id=parent.id, priority="batch")
    grandchild = queue.submit("steps", {"steps": 1}, parent_id=child.id, priority="batch")
    qenv.worker()
    qenv.wait(
        "parent running",
        lambda: len([e for e in queue.events(parent.id) if e["kind"] == "checkpointed"]) >= 2,
    )
    proc = qenv.cli("cancel", parent.id)
    assert proc.returncode == 0, proc.stderr
    assert {queue.get(j).status for j in (parent.id, child.id, grandchild.id)} == {"cancelled"}
    done = qenv.client.values(parent.thread_id)["done_steps"]
    assert 2 <= done < 50
    assert "cancelled" in proc.stdout and child.id in proc.stdout


def test_cancel_drops_the_llm_call_in_flight(qenv: QueueEnv, corpus: Path) -> None:
    """A cancel reaches into a running step: the worker's LLM call is an asyncio task, and
    cancelling it closes the HTTP request (the server sees the client go) instead of waiting
    for an answer that, here, never comes."""
    from tests.fakeopenai import FakeOpenAI, serve

    fake = FakeOpenAI(script=["hang"])  # the first call (outlining's) hangs
    with serve(fake) as base_url:
        qenv.env.update(
            LOCKSTEP_MODEL="openai:fake", OPENAI_BASE_URL=base_url, OPENAI_API_KEY="test"
        )
        queue = qenv.configure("")
        job = queue.submit("brief", {"topic": "Short-term rentals", "sources": [str(corpus)]})
        qenv.worker()
        qenv.wait("the outline call to hang", fake.hanging.is_set)
        assert queue.get(job.id).status == "running"
        proc = qenv.cli("cancel", job.id)
        assert proc.returncode == 0, proc.stderr
        qenv.wait("the job to stop", lambda: queue.get(job.id).final)
        qenv.wait("the server to see the client go", lambda: "client disconnected" in fake.log)
    ended = queue.get(job.id, events=True)
    assert ended.status == "cancelled", odd_events(queue, [job.id])
    assert "LLM call in flight was dropped" in ended.events[-1]["detail"]["reason"]
    status = qenv.client.status(job.thread_id)
    assert status.status == "outlining"  # the step did not finish: resumable from there
    assert status.total_tokens == 0


@pytest.mark.postgres
def test_worker_reconnects_after_its_connections_are_killed(
    postgres_url: str, tmp_path: Path
) -> None:
    import psycopg

    qenv = QueueEnv(postgres_url, tmp_path)
    try:
        _reconnect_scenario(qenv, psycopg)
    finally:
        qenv.stop_all()
        sys.path.remove(str(FLOWS))


def _reconnect_scenario(qenv: QueueEnv, psycopg: Any) -> None:
    queue = qenv.configure("queue_system:\n  visibility_timeout: 2s\n  queues: {default: {}}\n")
    trace = qenv.tmp / "trace.txt"
    job = queue.submit("steps", {"steps": 8, "seconds": 0.3, "trace": str(trace)})
    qenv.worker()
    qenv.wait("two units", lambda: len(trace_units(trace)) >= 2)
    dbname = qenv.url.rsplit("/", 1)[1]
    with psycopg.connect(qenv.url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()
    assert killed and killed[0] >= 2  # the worker's queue and checkpoint connections
    later = queue.submit("steps", {"steps": 1})
    qenv.wait("both jobs", qenv.all_final([job.id, later.id]))
    assert queue.get(job.id).status == "succeeded"
    assert queue.get(later.id).status == "succeeded"
    assert sorted(set(n for _, n in trace_units(trace))) == list(range(1, 9))


# -- configuration -------------------------------------------------------------------------


def test_bad_configuration_and_input_get_one_line_errors(qenv: QueueEnv) -> None:
    with pytest.raises(ConfigError, match=r"lockstep.yaml:3: .*concurrency_limit"):
        parse_config(
            "queue_system:\n  queues:\n    default: {concurrency_limit: -1}\n", "lockstep.yaml"
        )
    with pytest.raises(ConfigError, match=r"cfg.yaml:2: invalid YAML"):
        parse_config("queue_system: {}\n  queues: x\n", "cfg.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml:2: .*strategy"):
        parse_config("rate_limits:\n  a: {limit: 1, per: 1s, strategy: fastest}\n", "x.yaml")
    with pytest.raises(ConfigError, match="unknown workflow 'nope'"):
        parse_config("concurrency:\n  workflows:\n    nope: {limit: 1}\n", "y.yaml")
    queue = qenv.configure("")
    with pytest.raises(ConfigError, match="unknown queue 'fast'"):
        queue.submit("steps", {}, queue="fast")
    with pytest.raises(ConfigError, match="invalid priority 'soon'"):
        queue.submit("steps", {}, priority="soon")
    assert queue.find() == []
    qenv.config_path.write_text("queue_system:\n  queues:\n    default: {singleton: maybe}\n")
    proc = qenv.cli("jobs")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: ") and "lockstep.yaml:3" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_jobs_and_job_json(qenv: QueueEnv) -> None:
    queue = qenv.configure("")
    job = queue.submit("steps", {"steps": 1}, user="ana", priority="batch")
    listed = json.loads(qenv.cli("jobs", "--json", "--status", "queued").stdout)
    assert listed[0]["id"] == job.id
    assert set(listed[0]) >= {
        "id",
        "queue",
        "priority",
        "status",
        "attempts",
        "thread_id",
        "submitted_at",
        "started_at",
        "finished_at",
    }
    one = json.loads(qenv.cli("job", job.id, "--json").stdout)
    assert one["events"][0]["kind"] == "submitted" and one["user_name"] == "ana"
    missing = qenv.cli("job", "nope")
    assert missing.returncode == 2 and "unknown job 'nope'" in missing.stderr
    bad = qenv.cli("jobs", "--status", "sleeping")
    assert bad.returncode == 1 and "unknown job status" in bad.stderr


def _limiter_clock(queue: JobQueue) -> list[float]:
    now = [1000.0]
    queue.limiter.clock = lambda: now[0]
    return now


@pytest.mark.parametrize("strategy", ["token_bucket", "leaky_bucket", "sliding_window"])
def test_rate_limit_strategies(qenv: QueueEnv, strategy: str) -> None:
    queue = qenv.configure(f"rate_limits:\n  calls: {{limit: 4, per: 1s, strategy: {strategy}}}\n")
    now = _limiter_clock(queue)
    limiter = queue.limiter
    allowed = []
    for _ in range(8):
        allowed.append(limiter.wait_time("calls", "global") == 0)
    if strategy == "leaky_bucket":
        assert allowed == [True] + [False] * 7  # no bursts: one per 0.25 s
        now[0] += 0.25
        assert limiter.wait_time("calls", "global") == 0
    else:
        assert allowed == [True] * 4 + [False] * 4  # a burst of 4, then wait
    now[0] += 0.5
    got = sum(limiter.wait_time("calls", "global") == 0 for _ in range(8))
    expected = {"token_bucket": 2, "leaky_bucket": 1, "sliding_window": 0}[strategy]
    assert got == expected
    now[0] += 1.0
    assert limiter.wait_time("calls", "global") == 0


def test_named_call_limit_acquired_in_a_node_across_processes(qenv: QueueEnv, corpus: Path) -> None:
    queue = qenv.configure("rate_limits:\n  search_api_calls: {limit: 4, per: 1s, scope: global}\n")
    job = queue.submit("brief", {"topic": "Short-term rental caps", "sources": [str(corpus)]})
    qenv.worker()
    qenv.wait("brief", qenv.all_final([job.id]))
    assert queue.get(job.id).status == "succeeded"
    rows = qenv.client.db.query(
        "SELECT at FROM lockstep_rate_hits WHERE name = 'search_api_calls' ORDER BY at"
    )
    hits = [float(r["at"]) for r in rows]
    assert len(hits) >= 6  # one per source read
    for t in hits:
        assert sum(t <= s < t + 1.0 for s in hits) <= 4


def test_example_configuration_parses() -> None:
    config = parse_config(
        (ROOT / "examples" / "lockstep.yaml").read_text(), "examples/lockstep.yaml"
    )
    assert config.queue("training")[1].concurrency_limit == 2
    assert config.queue_system.queues["nightly"].limit == 1
    assert config.rate_limits["search_api_calls"].strategy == "token_bucket"
    assert config.timeouts.step("researching") == 600 and config.timeouts.step("x") == 300
