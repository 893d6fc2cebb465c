"""`lockstep serve` as a real process on 127.0.0.1: LangServe endpoints driven by the real
`RemoteRunnable`, the REST API with API keys, roles and per-user isolation."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable

from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow
TOPIC = "Should Calder Bay cap and register short-term rentals?"


def _lockstep(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", *args, "--db", db],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _key(db: str, user: str, roles: str) -> str:
    from lockstep.db import Database
    from lockstep.server.auth import create_key

    database = Database(db)
    try:
        return create_key(database, user, roles.split(","))[1]
    finally:
        database.close()


class Server:
    def __init__(self, db: str, keys: dict[str, str], base: str) -> None:
        self.db, self.keys, self.base = db, keys, base

    def http(self, user: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[user]}"} if user else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)

    def remote(self, user: str, workflow: str = "brief") -> RemoteRunnable:
        return RemoteRunnable(
            f"{self.base}/langserve/{workflow}",
            headers={"Authorization": f"Bearer {self.keys[user]}"},
            timeout=120,
        )


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    keys = {
        "ana": _key(db_url, "ana", "submitter,approver"),
        "bob": _key(db_url, "bob", "submitter"),
        "ops": _key(db_url, "ops", "operator,admin"),
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    roots = ["--sources-root", str(tmp_path), "--sources-root", str(ROOT / "examples")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockstep", "serve", "--port", str(port), "--db", db_url, *roots],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded CI machine starts Python slowly
    started = False
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        started = True
        yield Server(db_url, keys, base)
    finally:  # a server that never answered is stopped too, never left behind
        proc.terminate()
        try:
            _, errs = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, errs = proc.communicate()
        if started:
            assert "Traceback" not in errs, errs


@pytest.fixture
def few(tmp_path: Path) -> Path:
    folder = tmp_path / "few"
    folder.mkdir()
    for name in ("housing-market-study.md", "resident-survey-2025.md"):
        shutil.copy(CORPUS / name, folder / name)
    return folder


def test_remote_runnable_runs_a_brief_and_answers_its_gate(server: Server, few: Path) -> None:
    remote = server.remote("ana")
    config = {"configurable": {"thread_id": "lr1"}}
    out = remote.invoke({"topic": TOPIC, "sources": [str(few)]}, config=config)
    assert out["thread_id"] == "lr1" and out["status"] == "human_input_needed"
    assert set(out["gate"]["decisions"]) == {"add_sources", "proceed", "cancel"}
    steps = list(
        remote.stream(
            {"resume": {"decision": "add_sources", "sources": str(CORPUS)}}, config=config
        )
    )
    assert [s["step"] for s in steps[:2]] == ["human_input_needed", "researching"]
    assert steps[-1]["status"] == "completed" and steps[-1]["final"] is True
    with server.http("ana") as http:
        thread = http.get("/threads/lr1").json()
        assert thread["status"] == "completed"
        assert http.get("/threads/lr1/history").json()[0]["status"] == "completed"
        decisions = [r for r in _audit(server.db, "lr1") if r["kind"] == "decision"]
        assert decisions and decisions[0]["actor"] == "ana"


def _audit(db: str, thread: str) -> list[dict]:
    from lockstep import Lockstep

    with Lockstep(db) as client:
        return client.audit(thread)


def test_rest_gate_decisions_artifacts_and_errors(server: Server, few: Path) -> None:
    with server.http("ana") as http:
        started = http.post(
            "/threads",
            json={
                "workflow": "brief",
                "thread_id": "r1",
                "inputs": {"topic": TOPIC, "sources": [str(few)]},
            },
        )
        assert started.status_code == 200 and started.json()["status"] == "human_input_needed"
        before = http.get("/threads/r1").json()["checkpoint_id"]
        bad = http.post("/threads/r1/decision", json={"decision": "approve"})
        assert (
            bad.status_code == 409 and "does not allow decision 'approve'" in bad.json()["detail"]
        )
        assert http.get("/threads/r1").json()["checkpoint_id"] == before  # unchanged
        gates = http.get("/gates").json()
        assert [g["thread_id"] for g in gates] == ["r1"] and gates[0][
            "gate"
        ] == "human_input_needed"
        assert http.get("/gates", params={"overdue": True}).json() == []  # no deadline declared
        done = http.post(
            "/threads/r1/decision", json={"decision": "add_sources", "sources": str(CORPUS)}
        )
        assert done.status_code == 200 and done.json()["status"] == "completed"
        arts = http.get("/threads/r1/artifacts").json()
        final = next(a for a in arts if a["name"] == "final")
        sources = [a for a in arts if a["name"] == "sources"]
        shown = http.get(f"/artifacts/{final['id']}@1").json()
        assert shown["content"].startswith("# ") and "[^1]:" in shown["content"]
        diffed = http.get(
            f"/artifacts/{sources[-1]['id']}@{sources[-1]['version']}",
            params={"diff": f"{sources[0]['id']}@1"},
        ).json()
        assert diffed["versions"] == [s["version"] for s in sources] and diffed["diff"]
        assert http.get("/artifacts/nope@1").status_code == 404
        assert http.get("/threads/missing").status_code == 404
        assert http.post("/threads/r1/decision", content=b"{not json").status_code == 422
        missing = http.post("/threads/r1/decision", json={"comment": "no decision"})
        assert missing.status_code == 422 and "decision" in str(missing.json()["detail"])
        big = http.post("/threads/r1/decision", content=b"x" * 1_100_000)
        assert big.status_code == 413
        mermaid = http.get("/graphs/brief/diagram")
        assert mermaid.text.startswith("stateDiagram-v2")
        png = http.get("/graphs/brief/diagram", params={"format": "png"})
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        assert http.get("/graphs/nope/diagram").status_code == 404
        assert "/threads/{thread_id}/decision" in http.get("/openapi.json").json()["paths"]


def test_auth_roles_and_isolation(server: Server, few: Path) -> None:
    with server.http() as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").json() == {"ok": True}
        assert anonymous.get("/threads").status_code == 401
        wrong = anonymous.get("/threads", headers={"Authorization": "Bearer ls_wrong"})
        assert wrong.status_code == 401
    with server.http("bob") as bob:
        bob.post(
            "/threads",
            json={
                "workflow": "brief",
                "thread_id": "b1",
                "inputs": {"topic": TOPIC, "sources": [str(few)]},
            },
        )
        refused = bob.post("/threads/b1/decision", json={"decision": "cancel"})
        assert refused.status_code == 403  # a submitter is not an approver
        assert bob.post("/threads/b1/abandon", json={"reason": "x"}).status_code == 403
    with server.http("ana") as ana:
        assert ana.get("/threads/b1").status_code == 404  # another user's thread: unknown
        assert ana.post("/threads/b1/decision", json={"decision": "cancel"}).status_code == 404
        assert [t["thread_id"] for t in ana.get("/threads").json()] == []
    with server.http("ops") as ops:  # admin sees every thread and may recover it
        assert ops.get("/threads/b1").json()["status"] == "human_input_needed"
        abandoned = ops.post("/threads/b1/abandon", json={"reason": "duplicate request"})
        assert abandoned.status_code == 200 and abandoned.json()["status"] == "abandoned"
    with pytest.raises(httpx.HTTPStatusError) as info:
        server.remote("ana").invoke(
            {"resume": {"decision": "cancel"}}, config={"configurable": {"thread_id": "b1"}}
        )
    assert info.value.response.status_code == 404


def test_keys_revoke_and_no_auth_binding(server: Server) -> None:
    created = _lockstep("keys", "create", "--user", "cy", "--roles", "approver", db=server.db)
    assert created.returncode == 0 and created.stdout.strip().startswith("ls_")
    server.keys["cy"] = created.stdout.strip()
    with server.http("cy") as cy:
        assert cy.get("/threads").json() == []
    listed = _lockstep("keys", "list", "--json", db=server.db)
    rows = __import__("json").loads(listed.stdout)
    assert {r["user_name"] for r in rows} == {"ana", "bob", "ops", "cy"}
    bob_id = next(r["id"] for r in rows if r["user_name"] == "bob")
    assert _lockstep("keys", "revoke", bob_id, db=server.db).returncode == 0
    with server.http("bob") as bob:
        assert bob.get("/threads").status_code == 401
    bad = _lockstep("keys", "create", "--user", "x", "--roles", "king", db=server.db)
    assert bad.returncode == 1 and "unknown role(s) king" in bad.stderr
    refused = _lockstep("serve", "--no-auth", "--host", "0.0.0.0", db=server.db)
    assert refused.returncode == 1 and "binds only to loopback" in refused.stderr
