"""Chaos: 200 jobs through 3 worker processes (`--concurrency 3`) while workers are killed
with -9 and replaced, or while every worker's database connections are terminated.

Every unit of work appends `<thread> <unit>` to a trace file, so executions are counted, not
just final states. The checks: no job lost (every one succeeded with all its units), none
duplicated or re-run past a checkpoint (each thread's checkpoints form one line, and a unit
ran more than once only where an interruption cut it short before its checkpoint), no dead
letter. The figures go to `chaos-<name>.json` in the test's folder and are printed.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lockstep import Lockstep
from lockstep.queue import JobQueue, load_config
from tests.test_claims import forks

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "examples" / "workflows"
JOBS, WORKERS, CONCURRENCY, CHAOS_S = 200, 3, 3, 90.0
STEPS, SECONDS = 3, 0.2
CONFIG = (
    "workflows: {steps: steps}\n"
    "queue_system:\n"
    "  visibility_timeout: 3s\n"
    "  poll_interval: 100ms\n"
    # a kill -9 is a real crash and spends an attempt; with ~1 kill a second among 9 slots a
    # job can be hit several times, so the crash budget is larger than the default 3
    "  retry: {max_retries: 10, base_delay: 100ms, max_delay: 1s}\n"
    "  queues: {default: {}, side: {}}\n"
)


class Chaos:
    """The database, the jobs and the worker processes of one chaos run."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.config = tmp / "lockstep.yaml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.trace = tmp / "trace.txt"
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FLOWS), str(ROOT)])}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.started = 0
        sys.path.insert(0, str(FLOWS))
        self.client = Lockstep(url, config=load_config(self.config))

    @property
    def queue(self) -> JobQueue:
        return self.client.queue

    def submit(self) -> list[str]:
        args = {"steps": STEPS, "seconds": SECONDS, "trace": str(self.trace)}
        return [self.queue.submit("steps", args).id for _ in range(JOBS)]

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{self.started}.log").open("wb")
        self.started += 1
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockstep",
                "worker",
                "--db",
                self.url,
                "--config",
                str(self.config),
                "--concurrency",
                str(CONCURRENCY),
                *args,
            ],
            cwd=self.tmp,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(proc)
        return proc

    def ready(self, proc: subprocess.Popen[bytes]) -> bool:
        """The worker has started (its first log line names it)."""
        log = self.tmp / f"worker-{self.workers.index(proc)}.log"
        return log.read_bytes().startswith(b"worker ")

    def busy(self, proc: subprocess.Popen[bytes]) -> bool:
        """The worker holds a running job's lease (worker IDs are host:pid:random)."""
        rows = self.queue.db.query(
            "SELECT COUNT(*) AS n FROM lockstep_jobs WHERE status = 'running' "
            "AND lease_owner LIKE ?",
            (f"%:{proc.pid}:%",),
        )
        return int(rows[0]["n"]) > 0

    def done(self, ids: list[str]) -> bool:
        rows = self.queue.db.query(
            "SELECT COUNT(*) AS n FROM lockstep_jobs WHERE status IN "
            "('succeeded', 'failed', 'dead_lettered', 'cancelled', 'timed_out')"
        )
        return int(rows[0]["n"]) >= len(ids)

    def finish(self, ids: list[str], timeout: float = 150) -> float:
        """Wait for every job to end (the workers left running); the seconds it took."""
        start = time.monotonic()
        while not self.done(ids):
            assert time.monotonic() - start < timeout, self.logs()
            time.sleep(0.5)
        return time.monotonic() - start

    def logs(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in sorted(self.tmp.glob("worker-*.log")))

    def stop(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        self.client.close()
        sys.path.remove(str(FLOWS))

    def check(self, ids: list[str], interruptions: dict[str, int]) -> dict[str, Any]:
        """Assert nothing was lost, duplicated or re-run; return the figures."""
        jobs = [self.queue.get(i, events=True) for i in ids]
        statuses = collections.Counter(j.status for j in jobs)
        assert statuses == {"succeeded": JOBS}, (statuses, [j.error for j in jobs if j.error])
        ran = collections.Counter(
            (t, int(n)) for t, n in (line.split() for line in self.trace.read_text().splitlines())
        )
        rerun = 0
        for job in jobs:
            units = [ran[(job.thread_id, n)] for n in range(1, STEPS + 1)]
            assert all(u >= 1 for u in units), f"{job.id}: a unit never ran: {units}"
            extra = sum(units) - STEPS
            assert extra <= interruptions.get(job.id, 0), (
                f"job {job.id} ran {extra} unit(s) again with only "
                f"{interruptions.get(job.id, 0)} interruption(s): {units}"
            )
            rerun += extra
            assert forks(self.client.db, job.thread_id) == []  # no step re-ran past its checkpoint
            assert self.client.values(job.thread_id)["done_steps"] == STEPS
            kinds = collections.Counter(e["kind"] for e in job.events)
            # every attempt was a claim of its own (a release hands its attempt back)
            assert kinds["started"] == job.attempts + kinds["released"], kinds
        return {
            "jobs": JOBS,
            "succeeded": statuses["succeeded"],
            "dead_lettered": statuses.get("dead_lettered", 0),
            "executions": sum(ran.values()),
            "units": JOBS * STEPS,
            "in_flight_units_rerun": rerun,
            "attempts": sum(j.attempts for j in jobs),
            "lease_expired": sum(1 for j in jobs for e in j.events if e["kind"] == "lease_expired"),
        }

    def record(self, name: str, figures: dict[str, Any]) -> None:
        (self.tmp / f"chaos-{name}.json").write_text(json.dumps(figures, indent=1))
        print(f"chaos {name}: {json.dumps(figures)}")


def _lease_expiries(queue: JobQueue, ids: list[str]) -> dict[str, int]:
    return {
        i: sum(1 for e in queue.events(i) if e["kind"] in ("lease_expired", "released"))
        for i in ids
    }


@pytest.mark.slow
def test_kill_9_chaos(db_url: str, tmp_path: Path) -> None:
    chaos = Chaos(db_url, tmp_path)
    rng = random.Random(20)
    try:
        ids = chaos.submit()
        alive = [chaos.worker() for _ in range(WORKERS)]
        kills, start = 0, time.monotonic()
        while time.monotonic() - start < CHAOS_S and not chaos.done(ids):
            time.sleep(rng.uniform(1.0, 3.0))
            # a worker still importing runs nothing yet: kill one that runs jobs
            up = [w for w in alive if chaos.ready(w) and chaos.busy(w)]
            if not up:
                continue
            victim = rng.choice(up)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            alive[alive.index(victim)] = chaos.worker()
            kills += 1
        chaos_s = time.monotonic() - start
        tail = chaos.finish(ids)
        figures = chaos.check(ids, _lease_expiries(chaos.queue, ids))
        assert figures["lease_expired"] >= 1  # the kills did land on running jobs
        chaos.record(
            f"kill9-{chaos.client.db.dialect}",
            {**figures, "kills": kills, "chaos_s": round(chaos_s, 1), "drain_s": round(tail, 1)},
        )
    finally:
        chaos.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_terminated_backends_chaos(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    chaos = Chaos(postgres_url, tmp_path)
    rng = random.Random(21)
    dbname = postgres_url.rsplit("/", 1)[1]
    try:
        ids = chaos.submit()
        workers = [chaos.worker() for _ in range(WORKERS)]
        rounds = terminated = 0
        start = time.monotonic()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            while time.monotonic() - start < CHAOS_S and not chaos.done(ids):
                time.sleep(rng.uniform(1.0, 3.0))
                row = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                ).fetchone()
                terminated += int(row[0]) if row else 0
                rounds += 1
        chaos_s = time.monotonic() - start
        tail = chaos.finish(ids)
        # each termination round can cut short the unit in flight of any running job
        figures = chaos.check(ids, dict.fromkeys(ids, rounds))
        assert all(w.poll() is None for w in workers), chaos.logs()  # nobody died of it
        assert figures["lease_expired"] == 0  # an outage is not a death
        assert figures["attempts"] == JOBS  # and spends no attempt
        assert terminated >= rounds * WORKERS  # every worker's connections were cut each time
        chaos.record(
            "terminate-postgres",
            {
                **figures,
                "terminate_rounds": rounds,
                "backends_terminated": terminated,
                "chaos_s": round(chaos_s, 1),
                "drain_s": round(tail, 1),
            },
        )
    finally:
        chaos.stop()


# -- a Postgres restart ------------------------------------------------------------------------


class OwnPostgres:
    """A throwaway PostgreSQL server on a free loopback port, in its own data folder, that a
    test may stop and start (never the shared one). Run as `postgres` when we are root."""

    def __init__(self) -> None:
        import glob
        import tempfile

        from tests.servers import free_port

        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="lockstep-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            self.dir.chmod(0o755)
            subprocess.run(["chown", "postgres:", str(self.dir)], check=True)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        log = str(self.dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        import shutil

        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_mid_run_ends_with_every_job_done(tmp_path: Path) -> None:
    """Stop the server for longer than a lease while jobs run, start it again: every job
    finishes, none spends an attempt, and a lease that lapsed across the restart is put back
    saying the database was unreachable."""
    server = OwnPostgres()
    chaos = None
    try:
        server.start()
        chaos = Chaos(server.url, tmp_path)
        args = {"steps": 10, "seconds": 0.3, "trace": str(chaos.trace)}
        ids = [chaos.queue.submit("steps", args).id for _ in range(6)]
        for _ in range(2):
            chaos.worker("--queues", "default")
        # the workers serve every queue but `side`, where a claimer that never renews sits
        ghost_job = chaos.queue.submit("steps", {"steps": 1}, queue="side")
        deadline = time.monotonic() + 120
        while len(chaos.trace.read_text().splitlines() if chaos.trace.exists() else []) < 8:
            assert time.monotonic() < deadline, chaos.logs()
            time.sleep(0.2)
        ghost = chaos.queue.claim("ghost", ["side"])
        assert ghost is not None and ghost.id == ghost_job.id
        chaos.client.close()
        server.stop()
        time.sleep(6)  # twice the visibility timeout: every lease lapses while the server is down
        server.start()
        chaos.client = Lockstep(server.url, config=load_config(chaos.config))
        while not all(chaos.queue.get(i).final for i in ids):
            assert time.monotonic() < deadline + 180, chaos.logs()
            time.sleep(0.5)
        jobs = [chaos.queue.get(i, events=True) for i in ids]
        assert [(j.status, j.attempts) for j in jobs] == [("succeeded", 1)] * 6
        for job in jobs:
            for e in job.events:
                if e["kind"] == "lease_expired":  # only ever blamed on the outage
                    assert e["detail"].get("cause") == "database unreachable (restarted)", e
            assert forks(chaos.client.db, job.thread_id) == []
            assert chaos.client.values(job.thread_id)["done_steps"] == 10
        # the ghost's lease lapsed across the restart: put back, attempt not counted, and
        # the event says why
        deadline = time.monotonic() + 60
        while chaos.queue.get(ghost_job.id).status == "running":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        back = chaos.queue.get(ghost_job.id, events=True)
        assert back.status == "queued" and back.attempts == 0
        expired = [e for e in back.events if e["kind"] == "lease_expired"]
        assert expired and expired[-1]["detail"]["cause"] == "database unreachable (restarted)"
        assert "database restarted" in (back.error or "")
        assert "did not renew" not in (back.error or "")
    finally:
        if chaos is not None:
            chaos.stop()
        server.remove()
