"""Queue throughput: trivial jobs per second drained by 1 and 2 worker processes, lockstep vs
DBOS Transact's queue on the same database, against the database's raw commit rate.

A lockstep job runs the one-step `steps` workflow (examples/workflows): a LangGraph thread with
its checkpoints, plus the job's claim, lease and lifecycle events. A DBOS job is a workflow
with one step (DBOS records the workflow and the step's output). Both drain N jobs queued
before they start, both poll every 50 ms. Throughput = N / (last finish - first start), read
from each system's own job records. The raw commit rate is single-row INSERT commits on one
connection: the ceiling any durable queue on that database works under.

    python benchmarks/queue.py [--jobs 100] [--postgres URL] [--json]
    python benchmarks/queue.py --compare REV [--jobs 60]

`--compare REV` measures lockstep only, at git revision REV (exported to a temporary folder)
and at this checkout, alternately in the same run, so a change's cost is a ratio of rates
taken under the same load: the figure to quote for a change to the queue.

Needs `pip install dbos` (the `bench` extra). Postgres runs use a fresh database on the server
in --postgres (default: $LOCKSTEP_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path and its name hides the standard
# library's `queue` (which urllib3 imports): drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"
CONFIG = "workflows: {steps: steps}\nqueue_system:\n  poll_interval: 50ms\n"


@contextmanager
def database(kind: str, pg: str | None) -> Iterator[str]:
    """A fresh, empty database URL."""
    if kind == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="lockstep-bench-"))
        try:
            yield f"sqlite:///{tmp / 'bench.db'}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import psycopg

    assert pg is not None
    name = f"lockstep_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def raw_commits(url: str, n: int = 400) -> float:
    """Single-row INSERT commits per second on one connection (lockstep's connection settings)."""
    from lockstep.db import Database

    db = Database(url)
    db.execute("CREATE TABLE bench_commits (i INTEGER, note TEXT)")
    start = time.perf_counter()
    for i in range(n):
        db.execute("INSERT INTO bench_commits VALUES (?, ?)", (i, "x" * 64))
    elapsed = time.perf_counter() - start
    db.close()
    return n / elapsed


def _env() -> dict[str, str]:
    tree = os.environ.get("LOCKSTEP_BENCH_TREE", str(ROOT))
    return {**os.environ, "PYTHONPATH": f"{FLOWS}{os.pathsep}{tree}"}


def lockstep_rate_at(tree: Path, url: str, jobs: int, workers: int) -> float:
    """`lockstep_rate` with the lockstep in `tree` (submitter and workers alike)."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{FLOWS}{os.pathsep}{tree}",
        "LOCKSTEP_BENCH_TREE": str(tree),
    }
    done = subprocess.run(
        [sys.executable, __file__, "--measure", url, str(jobs), str(workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return float(done.stdout.split()[-1])


def compare(rev: str, jobs: int, pg: str | None) -> list[dict[str, float | str | int]]:
    """lockstep at `rev` against this checkout, alternating, on fresh databases."""
    results: list[dict[str, float | str | int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        for kind in ["sqlite"] + (["postgres"] if pg else []):
            for workers in (1, 2):
                row: dict[str, float | str | int] = {"db": kind, "workers": workers}
                for label, tree in (("before", before), ("after", ROOT)):
                    with database(kind, pg) as url:
                        row[label] = round(lockstep_rate_at(tree, url, jobs, workers), 1)
                row["ratio"] = round(float(row["after"]) / float(row["before"]), 2)
                results.append(row)
                print(
                    f"{kind:8} {workers} worker(s): {rev} {row['before']} jobs/s, this checkout "
                    f"{row['after']} jobs/s (after/before = {row['ratio']})",
                    flush=True,
                )
    return results


def lockstep_rate(url: str, jobs: int, workers: int, tmp: Path) -> float:
    from lockstep import Lockstep
    from lockstep.queue import load_config

    config = tmp / "lockstep.yaml"
    config.write_text(CONFIG)
    sys.path.insert(0, str(FLOWS))
    client = Lockstep(url, config=load_config(config))
    procs = []
    try:
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "lockstep", "worker", "--db", url, "--config", str(config)],
                env=_env(),
                cwd=tmp,  # `-m` puts the working folder first on sys.path: not the checkout's
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stderr is not None and proc.stderr.readline().startswith("worker ")
            procs.append(proc)
        ids = [client.queue.submit("steps", {"steps": 1}).id for _ in range(jobs)]
        while client.queue.find(status="succeeded", limit=jobs + 1).__len__() < jobs:
            time.sleep(0.1)
        rows = client.db.query(
            "SELECT MIN(started_at) AS first, MAX(finished_at) AS last FROM lockstep_jobs"
        )
        assert all(client.queue.get(i).status == "succeeded" for i in ids)
        return jobs / (float(rows[0]["last"]) - float(rows[0]["first"]))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        client.close()
        sys.path.remove(str(FLOWS))


DBOS_WORKER = """
import sys, time
from dbos import DBOS
DBOS(config={"name": "bench", "system_database_url": sys.argv[1], "log_level": "ERROR",
             "executor_id": sys.argv[2], "application_version": "bench"})

@DBOS.step()
def noop(i: int) -> int:
    return i

@DBOS.workflow()
def job(i: int) -> int:
    return noop(i)

DBOS.launch()
DBOS.register_queue("bench", polling_interval_sec=0.05, worker_concurrency=1)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def dbos_rate(url: str, jobs: int, workers: int, tmp: Path) -> float:
    from dbos import DBOSClient

    script = tmp / "dbos_worker.py"
    script.write_text(DBOS_WORKER)
    procs = []
    try:
        for n in range(workers):
            proc = subprocess.Popen(
                [sys.executable, str(script), url, f"w{n}"],
                stdout=subprocess.PIPE,
                text=True,
                cwd=tmp,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            procs.append(proc)
        client = DBOSClient(system_database_url=url)
        handles = [
            client.enqueue(
                {"queue_name": "bench", "workflow_name": "job", "app_version": "bench"}, i
            )
            for i in range(jobs)
        ]
        for h in handles:
            h.get_result()
        rows = [(w.dequeued_at, w.completed_at) for w in client.list_workflows(name="job")]
        client.destroy()
        first = min(r[0] for r in rows if r[0])
        last = max(r[1] for r in rows if r[1])
        return jobs / ((last - first) / 1000.0)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("LOCKSTEP_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--compare", metavar="REV", help="lockstep at REV vs this checkout")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)  # URL JOBS WORKERS
    args = parser.parse_args()
    if args.measure:
        url, jobs, workers = args.measure
        with tempfile.TemporaryDirectory() as tmp:
            print(lockstep_rate(url, int(jobs), int(workers), Path(tmp)))
        return
    if args.compare:
        rows = compare(args.compare, args.jobs, args.postgres)
        if args.json:
            print(json.dumps(rows))
        return
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    results = []
    for kind in kinds:
        with database(kind, args.postgres) as url:
            commits = raw_commits(url)
        for workers in (1, 2):
            row: dict[str, float | str | int] = {"db": kind, "workers": workers}
            for system, measure in (("lockstep", lockstep_rate), ("dbos", dbos_rate)):
                with database(kind, args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
                    row[system] = round(measure(url, args.jobs, workers, Path(tmp)), 1)
            row["raw_commits"] = round(commits)
            row["vs_dbos"] = round(float(row["lockstep"]) / float(row["dbos"]), 2)
            row["of_raw"] = round(float(row["lockstep"]) / commits, 3)
            results.append(row)
            if not args.json:
                print(
                    f"{kind:8} {workers} worker(s): lockstep {row['lockstep']} jobs/s, "
                    f"DBOS {row['dbos']} jobs/s ({row['vs_dbos']}x), raw commits "
                    f"{row['raw_commits']}/s (lockstep = {row['of_raw']} of it)",
                    flush=True,
                )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
