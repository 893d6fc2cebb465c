"""Chaos on the Temporal engine: 100 jobs, 2 worker processes, one killed with SIGKILL at random
moments for 60 s (a replacement started each time). Then: no job lost, every one terminal, and
no step re-run once its checkpoint was written (counted from the trace every step appends);
and a gate answered while no worker runs is applied when one starts."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporal_env import TemporalEnv, trace_units

from lockstep.temporal import DevServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("temporal")]

JOBS, STEPS, SECONDS, CHAOS = 100, 5, 0.4, 60.0


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db") as server:
        yield server


def _spawn(env: TemporalEnv) -> subprocess.Popen[str]:
    """A worker process, not waited for (a restarted worker needs seconds to import); it
    writes `worker ...` to its log once it polls."""
    log = env.tmp / f"worker-{len(env.procs)}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockstep",
            "worker",
            "--engine",
            "temporal",
            "--concurrency",
            "4",
            "--db",
            env.url,
            "--config",
            str(env.config_path),
        ],
        cwd=env.tmp,
        env=env.env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    env.procs.append(proc)
    return proc


def _ready(proc: subprocess.Popen[str]) -> bool:
    log: Path = proc.log  # type: ignore[attr-defined]
    return log.read_text().startswith("worker ")


def test_kill_9_workers_for_60s_loses_nothing_and_reruns_no_committed_step(
    dev_server: DevServer, postgres_url: str, tmp_path: Path
) -> None:
    env = TemporalEnv(
        dev_server.address,
        postgres_url,
        tmp_path,
        "queue_system: {retry: {max_retries: 50, base_delay: 0.2s, max_delay: 1s}}\n",
    )
    trace = tmp_path / "trace.txt"
    rng = random.Random(16)
    try:

        async def submit_all() -> list[str]:
            ids = []
            for _ in range(JOBS):
                started = await env.engine.asubmit(
                    "steps", {"steps": STEPS, "seconds": SECONDS, "trace": str(trace)}
                )
                ids.append(started.thread_id)
            return ids

        threads: list[str] = env.run(submit_all())
        workers = [_spawn(env), _spawn(env)]
        kills: list[tuple[int, dict[str, int]]] = []
        end = time.monotonic() + CHAOS
        while time.monotonic() < end:
            up = [w for w in workers if _ready(w)]
            if not up:
                time.sleep(0.2)
                continue
            time.sleep(rng.uniform(1.0, 6.0))  # a random point in its work
            victim = up[rng.randrange(len(up))]
            workers.remove(victim)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            # what each thread had committed first, then where the trace stood: a line after
            # that point for a unit already committed is a committed step run again
            committed = {t: int(env.client.values(t).get("done_steps") or 0) for t in threads}
            offset = trace.stat().st_size if trace.exists() else 0
            kills.append((offset, committed))
            workers.append(_spawn(env))

        def finished() -> bool:
            return all(env.client.status(t).final for t in threads)

        env.wait("every job terminal", finished, timeout=300)
        statuses = {t: env.client.status(t).status for t in threads}
        assert set(statuses.values()) == {"done"}, statuses  # 0 lost, all terminal
        done = {t: int(env.client.values(t)["done_steps"]) for t in threads}
        assert set(done.values()) == {STEPS}
        units = trace_units(trace)
        for t in threads:
            assert sorted({n for th, n in units if th == t}) == list(range(1, STEPS + 1))
        # no committed step ran again: after each kill, no unit at or below what that thread
        # had committed at the kill was executed anew
        text = trace.read_text(encoding="utf-8")
        for offset, committed in kills:
            later = [line.split() for line in text[offset:].splitlines() if line]
            rerun = [(th, int(n)) for th, n in later if int(n) <= committed[th]]
            assert rerun == [], f"checkpointed steps ran again after a kill: {rerun[:5]}"
        reruns = len(units) - JOBS * STEPS
        assert reruns <= len(kills) * 4  # only steps in flight at a kill (4 slots a worker)
        assert len(kills) >= 3  # a restarted worker needs ~10 s to import lockstep here
        print(
            f"\nchaos: {len(kills)} kills, {reruns} in-flight steps re-run, "
            f"{JOBS * STEPS} steps committed once each"
        )

        # a gate answered while no worker runs is applied when one starts
        gated = env.engine.submit("steps", {"steps": 1, "gate": True})
        env.wait("the gate", lambda: env.client.status(gated.thread_id).waiting, timeout=120)
        for w in workers:
            w.send_signal(signal.SIGKILL)
            w.wait(10)
        answered = env.cli("resume", gated.thread_id, "--decision", "approve", "--by", "ana")
        assert answered.returncode == 0, answered.stderr
        time.sleep(1.0)  # nothing may apply it yet: no worker runs
        assert env.client.status(gated.thread_id).waiting
        _spawn(env)
        env.wait("the answer applied", lambda: env.client.status(gated.thread_id).final, 120)
        assert env.client.status(gated.thread_id).status == "done"
        decisions = [
            a["detail"] for a in env.client.audit(gated.thread_id) if a["kind"] == "decision"
        ]
        assert [(d["decision"], d["by"]) for d in decisions] == [("approve", "ana")]
    finally:
        env.stop_all()
