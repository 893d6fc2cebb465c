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
from lockstep.queue import JobQueue
from lockstep.queue.clock import db_now
from lockstep.queue.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"
TRIALS = 30
PROCESSES, THREADS = 3, 3
CONFIGS = {
    "no limits": "workflows: {steps: steps}\n",
    "limits": "workflows: {steps: steps}\nqueue_system:\n  queues: {default: {concurrency_limit: 5}}\n"
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
