"""The ecosystem's own server and client: `langgraph dev` runs every shipped workflow from
`langgraph.json`, driven only by `langgraph_sdk` — create a thread, run, stop at a gate,
resume with `Command(resume=...)`, read state and history, stream updates.

`langgraph dev` runs from `.venv-langgraph` (the Makefile makes it: langgraph-api and
schemathesis cannot share one environment). The graphs get no lockstep context from the
host (it passes `{}`), so they build it from `LOCKSTEP_DATABASE_URL` and `LOCKSTEP_MODEL`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import ROOT
from tests.servers import free_port

pytestmark = pytest.mark.slow

LANGGRAPH = ROOT / ".venv-langgraph" / "bin" / "langgraph"
TOPIC = "Should Calder Bay cap and register short-term rentals?"


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` on a free loopback port, in a folder of its own (its in-memory runtime
    writes `.langgraph_api/` where it runs), with lockstep's database in that folder."""
    assert LANGGRAPH.exists(), "run `make test` (it creates .venv-langgraph for langgraph dev)"
    home = tmp_path_factory.mktemp("langgraph-dev")
    shipped = json.loads((ROOT / "langgraph.json").read_text())
    config = {
        "dependencies": [str(ROOT)],
        "graphs": {
            name: str(ROOT / spec.removeprefix("./")) for name, spec in shipped["graphs"].items()
        },
    }
    (home / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LOCKSTEP_DATABASE_URL": f"sqlite:///{home / 'lockstep.db'}",
        "LOCKSTEP_MODEL": "offline",
    }
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(LANGGRAPH), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser",
         "--no-reload", "--config", str(home / "langgraph.json")],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("langgraph dev did not answer /ok within 120 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_every_shipped_workflow_is_an_assistant(dev_server: str) -> None:
    async def names() -> set[str]:
        client = get_client(url=dev_server)
        return {a["graph_id"] for a in await client.assistants.search(limit=50)}

    shipped = set(json.loads((ROOT / "langgraph.json").read_text())["graphs"])
    assert shipped == {"brief", "training", "brief_digest"}
    assert shipped <= run(names())


def test_brief_runs_to_a_verified_brief(dev_server: str) -> None:
    async def go() -> tuple[dict[str, Any], list[Any], list[str]]:
        client = get_client(url=dev_server)
        thread = await client.threads.create()
        modes = []
        async for part in client.runs.stream(
            thread["thread_id"],
            "brief",
            input={"topic": TOPIC, "sources": [str(ROOT / "examples" / "corpus")]},
            stream_mode="updates",
        ):
            modes.append(part.event)
        state = await client.threads.get_state(thread["thread_id"])
        history = await client.threads.get_history(thread["thread_id"], limit=100)
        return state, history, modes

    state, history, modes = run(go())
    assert state["values"]["status"] == "completed", state["values"].get("error")
    assert state["values"]["final"]["sha256"]
    assert "updates" in modes
    statuses = [h["values"].get("status") for h in history]
    assert "researching" in statuses and "verifying" in statuses


def test_training_stops_at_a_gate_and_resumes_with_a_command(dev_server: str) -> None:
    request = {
        "topic": "Gifts, bribery and conflicts of interest",
        "audience": "All office and depot staff",
        "sources": [str(ROOT / "examples" / "training-policies")],
        "duration": 30,
        "deadline": "2027-01-31",
        "language": "en",
    }

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        client = get_client(url=dev_server)
        thread = await client.threads.create()
        tid = thread["thread_id"]
        await client.runs.wait(tid, "training", input=request)
        waiting = await client.threads.get_state(tid)
        # a decision the gate does not offer is not accepted: the gate asks again
        await client.runs.wait(tid, "training", command={"resume": {"decision": "ship-it"}})
        still = await client.threads.get_state(tid)
        await client.runs.wait(
            tid, "training", command={"resume": {"decision": "approved", "by": "ana"}}
        )
        after = await client.threads.get_state(tid)
        return waiting, still, after

    waiting, still, after = run(go())
    interrupts = [i for task in waiting["tasks"] for i in task["interrupts"]]
    assert interrupts, waiting
    gate = interrupts[0]["value"]
    assert gate["gate"] == "awaiting_objectives_approval" and "approved" in gate["decisions"]
    assert gate.get("review"), "the gate shows what it asks the person to review"
    assert [i["value"]["gate"] for t in still["tasks"] for i in t["interrupts"]] == [
        "awaiting_objectives_approval"
    ]
    assert after["values"]["status"] != "awaiting_objectives_approval"
    moved = [t["to"] for t in after["values"]["transitions"]]
    assert "awaiting_objectives_approval" in moved and moved[-1] != "awaiting_objectives_approval"
