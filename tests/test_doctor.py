"""`lockstep doctor` and `status --json`: the resolved database, blob store, model and config, and
their health; read-only commands never create a database on a mistyped SQLite path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lockstep import Lockstep
from lockstep.migrations import MIGRATIONS
from tests.conftest import ROOT
from tests.servers import free_port


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "OPENAI_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "lockstep", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_doctor_and_status_print_where_everything_lives(db_url: str, tmp_path: Path) -> None:
    with Lockstep(db_url) as client:
        client.db.register_thread("t1", "brief", "2026-01-01T00:00:00+00:00", {"topic": "x"})
        client.artifacts.put("t1", "request", {"topic": "x"}, step="intake")
    config = tmp_path / "lockstep.yaml"
    config.write_text("queue_system:\n  visibility_timeout: 5s\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    proc = run(cwd, "doctor", "--json", "--db", db_url, "--config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] is True
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        assert report["database"]["value"] == f"sqlite:///{path}"
        assert report["blob_store"]["value"] == str(path.parent / "blobs")
        assert report["blob_store"]["kind"] == "folder"
    else:
        assert report["database"]["value"] == db_url
        assert report["blob_store"] == {
            "value": "database",
            "ok": True,
            "detail": "table lockstep_blobs",
            "kind": "database",
            "not_in_table": 0,
        }
    assert report["database"]["schema_version"] == len(MIGRATIONS)
    assert report["model"] == {"value": "offline", "ok": True, "detail": "OfflineChatModel"}
    assert report["config"] == {"value": str(config), "ok": True, "detail": "valid"}

    status = run(cwd, "status", "t1", "--json", "--db", db_url)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["storage"] == {
        "database": report["database"]["value"],
        "blob_store": report["blob_store"]["value"],
    }
    assert list(cwd.iterdir()) == []


def test_doctor_fails_on_each_broken_part_and_creates_nothing(tmp_path: Path) -> None:
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("queue_system: [not, a, mapping]\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    typo = run(cwd, "doctor", "--db", "sqlite:///typo/lockstep.db")
    assert typo.returncode == 1
    assert f"FAIL database   sqlite:///{cwd / 'typo' / 'lockstep.db'}" in typo.stdout
    assert "no SQLite database at" in typo.stdout

    model = run(cwd, "doctor", "--json", LOCKSTEP_MODEL="openai:gpt-x")
    assert model.returncode == 1
    report = json.loads(model.stdout)
    assert report["model"]["ok"] is False and "OPENAI_API_KEY" in report["model"]["detail"]
    assert report["database"]["ok"] is True  # the default database, not made yet, is fine
    assert "not created yet" in report["database"]["detail"]

    config = run(cwd, "doctor", "--json", "--config", str(bad_config))
    assert config.returncode == 1 and json.loads(config.stdout)["config"]["ok"] is False

    closed = f"postgresql://ana:s3cret@127.0.0.1:{free_port()}/nothing"
    down = run(cwd, "doctor", "--json", "--db", closed)
    assert down.returncode == 1 and "s3cret" not in down.stdout
    report = json.loads(down.stdout)
    assert report["database"]["value"] == closed.replace("s3cret", "***")
    assert report["database"]["ok"] is False and report["blob_store"]["ok"] is False
    assert list(cwd.iterdir()) == []


def test_read_only_commands_refuse_a_missing_sqlite_file(tmp_path: Path) -> None:
    """Issue #14: `status` on a mistyped path used to create the folders and an empty database."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for command in (["status", "t1"], ["show", "t1"], ["artifacts", "t1"], ["audit", "t1"]):
        proc = run(cwd, *command, "--db", "sqlite:///typo/lockstep.db")
        assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
        assert f"no SQLite database at {cwd / 'typo' / 'lockstep.db'}" in proc.stderr
    assert list(cwd.iterdir()) == []
