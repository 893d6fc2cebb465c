"""A real `lockstep serve` process (and `lockstep worker` processes) on 127.0.0.1 for tests,
with a queue configuration that registers `examples/workflows/steps`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT

FLOWS = ROOT / "examples" / "workflows"


def make_key(db: str, user: str, roles: str) -> str:
    from lockstep.db import Database
    from lockstep.server.auth import create_key

    database = Database(db)
    try:
        return create_key(database, user, roles.split(","))[1]
    finally:
        database.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(base: str) -> bool:
    """The server at `base` answers `/healthz`."""
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


class LiveServer:
    """The server's base URL and keys, plus workers started against the same database."""

    def __init__(self, db: str, config: Path, base: str, keys: dict[str, str], cwd: Path) -> None:
        self.db, self.config, self.base, self.keys, self.cwd = db, config, base, keys, cwd
        # the checkout's own lockstep first (not whatever the venv has installed), then FLOWS
        path = [str(FLOWS), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(path)}
        self.env.pop("LOCKSTEP_MODEL", None)
        self.workers: list[subprocess.Popen[str]] = []

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    def http(self, user: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers=self.headers(user) if user else {}, timeout=60
        )

    def worker(self) -> subprocess.Popen[str]:
        log = self.cwd / f"worker-{len(self.workers)}.log"
        with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the worker
            proc = subprocess.Popen(
                [sys.executable, "-m", "lockstep", "worker", "--db", self.db],
                cwd=self.cwd,
                env={**self.env, "LOCKSTEP_CONFIG": str(self.config)},
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)


@contextmanager
def live_server(
    db: str, tmp: Path, config: str, keys: dict[str, str], *args: str, steps: bool = True
) -> Iterator[LiveServer]:
    """`lockstep serve --config` on a free port with keys made for `keys` (user -> roles);
    `steps` registers the `steps` workflow."""
    path = tmp / "lockstep.yaml"
    path.write_text(("workflows: {steps: steps}\n" if steps else "") + config, encoding="utf-8")
    made = {user: make_key(db, user, roles) for user, roles in keys.items()}
    port = free_port()
    server = LiveServer(db, path, f"http://127.0.0.1:{port}", made, tmp)
    command = [sys.executable, "-m", "lockstep", "serve", "--port", str(port), "--db", db]
    log = tmp / "server.log"
    with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            [*command, "--config", str(path), *args],
            cwd=tmp,
            env=server.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 60
    while not healthy(server.base):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield server
    finally:
        server.stop_workers()
        proc.terminate()
        proc.wait(30)
        errs = log.read_text()
        assert "Traceback" not in errs, errs


def read_sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """SSE messages of a streamed response as {id, event, data} (comments/pings skipped)."""
    message: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
                message = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            message["data"] = json.loads(value)
        elif field in ("id", "event"):
            message[field] = value
    if message:
        yield message
