"""`lockstep serve` speaks the LangGraph SDK's protocol: the real `langgraph_sdk` client
(`get_client(url=.../langgraph, api_key=...)`) drives a real server process, on SQLite and
Postgres, with the same calls `tests/test_langgraph_dev.py` makes against `langgraph dev`:
assistants, threads, runs that wait, stream and stop at a gate, a `Command` resume, state and
history, a background run a `lockstep worker` picks up, a cancel — and another user's thread
is unknown through every route."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from lockstep.db import Database
from tests.conftest import CORPUS, ROOT
from tests.servers import FLOWS, LiveServer, free_port, healthy, make_key

pytestmark = pytest.mark.slow

TOPIC = "Should Calder Bay cap and register short-term rentals?"
TRAINING = {
    "topic": "Gifts, bribery and conflicts of interest",
    "audience": "All office and depot staff",
    "sources": [str(ROOT / "examples" / "training-policies")],
    "duration": 30,
    "deadline": "2027-01-31",
    "language": "en",
}
BRIEF = {"topic": TOPIC, "sources": [str(CORPUS)]}


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`lockstep serve` on a free port (start-up waits up to 180 s on a loaded machine)."""
    config = tmp_path / "lockstep.yaml"
    config.write_text("", encoding="utf-8")
    keys = {
        "ana": make_key(db_url, "ana", "submitter,approver"),
        "bob": make_key(db_url, "bob", "submitter,approver"),
    }
    port = free_port()
    server = LiveServer(db_url, config, f"http://127.0.0.1:{port}", keys, tmp_path)
    server.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(FLOWS)])
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockstep", "serve", "--port", str(port), "--db", db_url,
             "--config", str(config)],
            cwd=tmp_path, env=server.env, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while not healthy(server.base):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)
    try:
        yield server
    finally:
        server.stop_workers()
        proc.terminate()
        proc.wait(30)
        assert "Traceback" not in log.read_text(), log.read_text()


def _client(server: LiveServer, user: str) -> Any:
    return get_client(url=f"{server.base}/langgraph", api_key=server.keys[user])


async def _not_found(call: Any) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await call
    assert refused.value.response.status_code == 404, refused.value.response.text


def test_the_sdk_drives_lockstep_serve(served: LiveServer) -> None:
    asyncio.run(_drive(served))


async def _drive(server: LiveServer) -> None:
    ana, bob = _client(server, "ana"), _client(server, "bob")

    # assistants: one per workflow
    assistants = await ana.assistants.search(limit=50)
    assert {"brief", "training", "brief_digest"} <= {a["graph_id"] for a in assistants}
    brief = next(a for a in assistants if a["graph_id"] == "brief")
    assert (await ana.assistants.get(brief["assistant_id"]))["graph_id"] == "brief"

    # runs.wait of a brief to completion
    thread = await ana.threads.create(metadata={"purpose": "test"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["values"] == {}
    out = await ana.runs.wait(tid, brief["assistant_id"], input=BRIEF)
    assert out["status"] == "completed", out.get("error")
    assert out["final"]["sha256"] and "__interrupt__" not in out
    assert (await ana.threads.get(tid))["status"] == "idle"

    # a training run stops at its gate: the interrupt is in the state and the output
    gated = (await ana.threads.create())["thread_id"]
    out = await ana.runs.wait(gated, "training", input=TRAINING)
    assert out["__interrupt__"][0]["value"]["gate"] == "awaiting_objectives_approval", out
    waiting = await ana.threads.get_state(gated)
    interrupts = [i for task in waiting["tasks"] for i in task["interrupts"]]
    assert interrupts and interrupts == waiting["interrupts"]
    gate = interrupts[0]["value"]
    assert gate["gate"] == "awaiting_objectives_approval" and "approved" in gate["decisions"]
    assert gate.get("review")
    shown = await ana.threads.get(gated)
    assert shown["status"] == "interrupted" and next(iter(shown["interrupts"].values()))

    # ... and resumes with a Command; the decision is recorded as the key's user
    out = await ana.runs.wait(
        gated, "training", command={"resume": {"decision": "approved", "by": "mallory"}}
    )
    database = Database(server.db)
    try:
        decisions = [r for r in database.audit(gated) if r["kind"] == "decision"]
    finally:
        database.close()
    assert [d["actor"] for d in decisions] == ["ana"], decisions
    after = await ana.threads.get_state(gated)
    assert after["values"]["status"] != "awaiting_objectives_approval"
    moved = [t["to"] for t in after["values"]["transitions"]]
    assert "awaiting_objectives_approval" in moved and moved[-1] != "awaiting_objectives_approval"
    history = await ana.threads.get_history(gated, limit=100)
    assert len(history) > 3 and history[0]["checkpoint"] == after["checkpoint"]
    assert "awaiting_objectives_approval" in [h["values"].get("status") for h in history]

    # runs.stream with updates (and values)
    streamed = (await ana.threads.create())["thread_id"]
    parts = [
        part
        async for part in ana.runs.stream(
            streamed, "brief", input=BRIEF, stream_mode=["updates", "values"]
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and "updates" in events and "values" in events, events
    updates = [p.data for p in parts if p.event == "updates"]
    assert all(isinstance(u, dict) and len(u) == 1 for u in updates)
    assert [p.data for p in parts if p.event == "values"][-1]["status"] == "completed"

    # background runs go to the queue: one cancelled while queued, one a worker runs
    queued = (await ana.threads.create())["thread_id"]
    dropped = (await ana.threads.create())["thread_id"]
    run = await ana.runs.create(queued, "brief", input=BRIEF)
    gone = await ana.runs.create(dropped, "brief", input=BRIEF)
    assert run["status"] == "pending" and gone["status"] == "pending"
    await ana.runs.cancel(dropped, gone["run_id"])
    assert (await ana.runs.get(dropped, gone["run_id"]))["status"] == "interrupted"
    server.worker()
    joined = await ana.runs.join(queued, run["run_id"])
    assert joined["status"] == "completed", joined
    assert (await ana.runs.get(queued, run["run_id"]))["status"] == "success"
    assert [r["run_id"] for r in await ana.runs.list(queued)] == [run["run_id"]]
    assert (await ana.threads.get_state(dropped))["values"] == {}

    # a worker's run that stops at a gate, continued by a background Command (the queue's
    # continuation of the same job)
    trained = (await ana.threads.create())["thread_id"]
    first = await ana.runs.create(trained, "training", input=TRAINING)
    stopped = await ana.runs.join(trained, first["run_id"])
    assert stopped["__interrupt__"][0]["value"]["gate"] == "awaiting_objectives_approval"
    assert (await ana.runs.get(trained, first["run_id"]))["status"] == "interrupted"
    second = await ana.runs.create(
        trained, "training", command={"resume": {"decision": "approved"}}
    )
    done = await ana.runs.join(trained, second["run_id"])
    assert done["status"] != "awaiting_objectives_approval", done
    assert (await ana.runs.get(trained, first["run_id"]))["status"] == "interrupted"
    assert (await ana.runs.get(trained, second["run_id"]))["status"] in ("interrupted", "success")

    # another user's thread is unknown through every route
    mine = {t["thread_id"] for t in await ana.threads.search(limit=100)}
    assert {tid, gated, streamed, queued, dropped} <= mine
    assert not {t["thread_id"] for t in await bob.threads.search(limit=100)} & mine
    resume = {"resume": {"decision": "approved"}}
    for call in (
        bob.threads.get(gated),
        bob.threads.get_state(gated),
        bob.threads.get_history(gated),
        bob.runs.wait(gated, "training", command=resume),
        bob.runs.create(gated, "training", command=resume),
        bob.runs.wait(tid, "brief", input=BRIEF),
        bob.runs.list(queued),
        bob.runs.get(queued, run["run_id"]),
        bob.runs.join(queued, run["run_id"]),
        bob.runs.cancel(queued, run["run_id"]),
    ):
        await _not_found(call)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        async for _ in bob.runs.stream(gated, "training", command=resume):
            pass
    assert refused.value.response.status_code == 404
    anonymous = get_client(url=f"{server.base}/langgraph", api_key=None)
    with pytest.raises(httpx.HTTPStatusError) as unauthorised:
        await anonymous.threads.search()
    assert unauthorised.value.response.status_code == 401
