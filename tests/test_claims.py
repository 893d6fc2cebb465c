"""Exclusive claims and the checkpoint fence, on SQLite and on a real PostgreSQL server.

Many claimers (threads in several processes) race for one job whose lease just lapsed: exactly
one wins, with one more attempt, every time. A worker that lost its lease cannot append a
checkpoint to the thread its successor now runs.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from lockstep import Lockstep
from lockstep.checkpointers import close_checkpointer, open_checkpointer
from lockstep.checkpointers.fence import Fence, LeaseLost
from lockstep.db import Database
from lockstep.graphs import register_workflow
from lockstep.queue import JobQueue, load_config
from lockstep.queue.clock import SKEW_ENV, db_now
from lockstep.queue.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"
TRIALS = 30
PROCESSES, THREADS = 3, 3
CONFIGS = {
    "no limits": "workflows: {steps: steps}\n",
    "limits": "workflows: {steps: steps}\n"
    "queue_system:\n  queues: {default: {concurrency_limit: 5}}\n"
    "rate_limits:\n  starts: {limit: 1000, per: 1s, applies_to: start}\n",
}


def _claimers(url: str, config: str, barrier: Any, results: Any) -> None:
    """One process of racing claimers: THREADS threads, each on its own connection, claim
    once per trial when the barrier opens."""
    queues = [JobQueue(Database(url), parse_config(config, "test")) for _ in range(THREADS)]

    def race(i: int) -> None:
        for trial in range(TRIALS):
            barrier.wait()
            job = queues[i].claim(f"p{os.getpid()}-t{i}")
            results.put((trial, job.id if job else None, job.attempts if job else None))
            barrier.wait()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def flows() -> Any:
    """`examples/workflows/steps` importable and registered as `steps`."""
    sys.path.insert(0, str(FLOWS))
    register_workflow("steps", "steps")
    yield
    sys.path.remove(str(FLOWS))


def _expire(db: Database, job_id: str, trial: int) -> None:
    """Make `job_id` a running job whose (fake) owner's lease lapsed 5 s ago."""
    db.execute(
        "UPDATE lockstep_jobs SET status = 'running', lease_owner = 'gone', lease_token = ?, "
        "lease_expires = ?, attempts = 1 WHERE id = ?",
        (f"old-{trial}", db_now(db) - 5, job_id),
    )


@pytest.mark.slow
@pytest.mark.parametrize("limits", sorted(CONFIGS))
def test_one_claimer_wins_an_expired_job(db_url: str, limits: str, flows: Any) -> None:
    config = parse_config(CONFIGS[limits], "test")
    client = Lockstep(db_url, config=config)
    queue = client.queue
    job = queue.submit("steps", {"steps": 1})
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES * THREADS + 1, timeout=180)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_claimers, args=(db_url, CONFIGS[limits], barrier, results))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        for trial in range(TRIALS):
            _expire(client.db, job.id, trial)
            barrier.wait()  # go
            barrier.wait()  # every claimer has claimed
            got = [results.get(timeout=60) for _ in range(PROCESSES * THREADS)]
            assert {t for t, _, _ in got} == {trial}
            winners = [(j, a) for _, j, a in got if j is not None]
            assert winners == [(job.id, 2)], f"trial {trial}: {winners}"
            row = queue.get(job.id, events=True)
            assert row.status == "running" and row.attempts == 2
            assert row.lease_token not in (None, f"old-{trial}")
            kinds = [e["kind"] for e in row.events]
            assert kinds.count("lease_expired") == trial + 1  # put back once per trial
            assert kinds.count("started") == trial + 1  # and started once
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
        client.close()
    assert all(p.exitcode == 0 for p in procs)


def forks(db: Database, thread_id: str) -> list[str]:
    """Checkpoints with two children: a step that ran again after its checkpoint was written."""
    rows = db.query(
        "SELECT parent_checkpoint_id AS parent FROM checkpoints WHERE thread_id = ? "
        "AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL "
        "GROUP BY parent_checkpoint_id HAVING COUNT(*) > 1",
        (thread_id,),
    )
    return [str(r["parent"]) for r in rows]


def _count(db: Database, thread_id: str) -> tuple[int, int]:
    rows = [
        db.query(f"SELECT COUNT(*) AS n FROM {table} WHERE thread_id = ?", (thread_id,))
        for table in ("checkpoints", "checkpoint_writes" if db.dialect == "postgres" else "writes")
    ]
    return int(rows[0][0]["n"]), int(rows[1][0]["n"])


def test_stale_owner_cannot_write_a_checkpoint(db_url: str, flows: Any) -> None:
    config = parse_config(
        "workflows: {steps: steps}\nqueue_system:\n  visibility_timeout: 60s\n", "test"
    )
    owner = Lockstep(db_url, config=config)
    rival = JobQueue(Database(db_url), config)
    job = owner.queue.submit("steps", {"steps": 4})
    first = owner.queue.claim("first")
    assert first is not None and first.lease_token
    fence = Fence(first.id, first.lease_token)
    owner._saver = open_checkpointer(db_url, fence=fence)
    seen: dict[str, Any] = {}

    def take_over(node: str, update: Any) -> None:
        if "second" in seen:
            return
        # the lease lapses (the owner stalled) and another worker takes the job over
        owner.db.execute(
            "UPDATE lockstep_jobs SET lease_expires = lease_expires - 3600 WHERE id = ?",
            (job.id,),
        )
        seen["second"] = rival.claim("second")
        seen["written"] = _count(owner.db, job.thread_id)

    with pytest.raises(LeaseLost, match="lease was taken over"):
        owner.continue_run("steps", job.thread_id, job.input, on_update=take_over)
    second = seen["second"]
    assert second is not None and second.id == job.id and second.attempts == 2
    assert seen["written"][0] >= 1  # the owner wrote while it held the lease
    assert _count(owner.db, job.thread_id) == seen["written"]  # and nothing after
    done_before = int(owner.values(job.thread_id).get("done_steps") or 0)
    assert done_before < 4

    # the new owner's fenced saver writes, and carries on from the last checkpoint
    successor = Lockstep(db_url, config=config)
    successor._saver = open_checkpointer(db_url, fence=Fence(second.id, second.lease_token))
    status = successor.continue_run("steps", job.thread_id, job.input)
    assert status.final and successor.values(job.thread_id)["done_steps"] == 4
    assert forks(successor.db, job.thread_id) == []  # one line of checkpoints, no branch
    close_checkpointer(owner._saver)
    for c in (owner, successor):
        c.close()
    rival.db.close()


def test_unfenced_checkpoints_still_write(db_url: str, flows: Any) -> None:
    """A fence with no lease set (the CLI, notebooks) writes as LangGraph's saver does."""
    client = Lockstep(db_url)
    client._saver = open_checkpointer(db_url, fence=Fence())
    status = client.run("steps", steps=2)
    assert status.final and client.values(status.thread_id)["done_steps"] == 2
    client.close()


# -- one clock: the database's ---------------------------------------------------------------


def test_started_events_carry_the_limiters_hit_times(db_url: str, flows: Any) -> None:
    """A `started` event is timed by the same database-clock reading as the start-limit hit
    its claim took, so a window counted over events holds exactly what the limiter held.
    (Before, the event read the process clock again after the claim's other statements: on a
    loaded machine 11 of a 10-per-20s limit's events fell inside one 20 s window.)"""
    config = parse_config(
        "workflows: {steps: steps}\nrate_limits:\n"
        "  starts: {limit: 3, per: 60s, applies_to: start, strategy: sliding_window}\n",
        "test",
    )
    client = Lockstep(db_url, config=config)
    queue = client.queue
    ids = [queue.submit("steps", {"steps": 1}).id for _ in range(5)]
    claimed = [queue.claim(f"w{i}") for i in range(5)]
    assert sum(j is not None for j in claimed) == 3  # the limit, not the claimers, decides
    starts = sorted(e["at"] for i in ids for e in queue.events(i) if e["kind"] == "started")
    hits = sorted(
        float(r["at"])
        for r in client.db.query("SELECT at FROM lockstep_rate_hits WHERE name = 'starts'")
    )
    assert starts == hits and len(hits) == 3
    assert abs(starts[0] - db_now(client.db)) < 60  # on the database's clock
    client.close()


@pytest.mark.slow
def test_skewed_workers_agree_on_limits_and_leases(db_url: str, tmp_path: Path) -> None:
    """Three workers whose own clocks are 30 s behind, right and 30 s ahead: the start limit
    holds in every window, and no lease is taken for expired (a worker reading its own clock
    30 s ahead would reap every 2 s lease it sees)."""
    import subprocess
    import time

    path = tmp_path / "lockstep.yaml"
    path.write_text(
        "workflows: {steps: steps}\n"
        "queue_system:\n  visibility_timeout: 2s\n  poll_interval: 100ms\n"
        "rate_limits:\n"
        "  starts: {limit: 3, per: 2s, applies_to: start, strategy: sliding_window}\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(FLOWS))
    client = Lockstep(db_url, config=load_config(path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FLOWS), str(ROOT)])}
    procs, logs = [], []
    try:
        for n, skew in enumerate((-30, 0, 30)):
            logs.append(tmp_path / f"worker-{n}.log")
            with logs[-1].open("wb") as sink:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "lockstep",
                            "worker",
                            "--db",
                            db_url,
                            "--config",
                            str(path),
                            "--concurrency",
                            "2",
                        ],
                        cwd=tmp_path,
                        env={**env, SKEW_ENV: str(skew)},
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 120
        while not all("clock skewed" in p.read_text() for p in logs[::2]):
            assert time.monotonic() < deadline, [p.read_text() for p in logs]
            time.sleep(0.2)
        queue = client.queue
        ids = [queue.submit("steps", {"steps": 3, "seconds": 0.5}).id for _ in range(12)]
        while not all(queue.get(i).final for i in ids):
            assert time.monotonic() < deadline + 120, [p.read_text()[-2000:] for p in logs]
            time.sleep(0.3)
        jobs = [queue.get(i, events=True) for i in ids]
        assert [(j.status, j.attempts) for j in jobs] == [("succeeded", 1)] * 12
        kinds = [e["kind"] for j in jobs for e in j.events]
        assert "lease_expired" not in kinds
        starts = sorted(e["at"] for j in jobs for e in j.events if e["kind"] == "started")
        for t in starts:
            assert sum(t <= s < t + 2.0 for s in starts) <= 3
        assert starts[-1] - starts[0] >= 6.0  # 12 starts at 3 per 2 s need 3 more windows
        starters = {e["detail"]["worker"] for j in jobs for e in j.events if e["kind"] == "started"}
        assert len(starters) >= 2  # skewed and unskewed workers shared the work
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
        client.close()
        sys.path.remove(str(FLOWS))


def test_a_checkpoint_cut_off_after_its_steps_writes_is_carried_on(db_url: str, flows: Any) -> None:
    """A connection cut between a step's saved writes and the checkpoint after it (the saver's
    `put` fails once, as a terminated backend makes it) left a thread that was neither final
    nor resumable ("thread stopped at working", then dead letters); `continue_run` applies the
    saved writes and carries on."""
    client = Lockstep(db_url)
    saver = open_checkpointer(db_url)
    real, puts = saver.put, [0]

    def cut(*args: Any, **kwargs: Any) -> Any:
        puts[0] += 1
        if puts[0] == 3:
            raise ConnectionError("connection cut before the checkpoint")
        return real(*args, **kwargs)

    saver.put = cut  # type: ignore[method-assign]
    client._saver = saver
    with pytest.raises(ConnectionError):
        client.run("steps", thread_id="cut", steps=4)
    saver.put = real  # type: ignore[method-assign]
    stuck = client.status("cut")
    # once neither final nor resumable (what ended the job); now the unclosed step is shown
    # as where it stopped, and resuming it applies its saved writes
    assert not stuck.final and stuck.interrupted and stuck.next == ["working"]
    status = client.continue_run("steps", "cut", {})
    assert status.final and client.values("cut")["done_steps"] == 4
    assert forks(client.db, "cut") == []
    client.close()
