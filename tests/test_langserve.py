"""LangServe, all of it, with its stock clients: `RemoteRunnable` invoke (the brief itself and
its verification come back), batch (each item its own thread), stream_events, training
inputs given flat, and the playground in Debian's chromium (submit a topic, see the result),
whose config schema offers `thread_id`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CORPUS, ROOT
from tests.test_server import Server, server  # noqa: F401 - the live server fixture
from tests.test_web_page import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow
TOPIC = "Should Calder Bay cap and register short-term rentals?"
POLICIES = ROOT / "examples" / "training-policies"


def test_invoke_returns_the_brief_and_its_verification(server: Server) -> None:  # noqa: F811
    remote = server.remote("ana")
    out = remote.invoke(
        {"topic": TOPIC, "sources": [str(CORPUS)]}, config={"configurable": {"thread_id": "i1"}}
    )
    assert out["thread_id"] == "i1" and out["status"] == "completed"
    artifact = out["result"]["artifact"]
    assert artifact["name"] == "final" and artifact["format"] == "markdown"
    assert artifact["content"].startswith("# Policy brief") and "[^1]:" in artifact["content"]
    verification = out["result"]["verification"]
    assert verification["ok"] is True and verification["citations"] > 0
    assert verification["failures"] == []
    with server.http("ana") as http:
        stored = http.get(f"/artifacts/{artifact['id']}@{artifact['version']}").json()
    assert stored["content"] == artifact["content"]  # the bytes the store verified


def test_batch_gives_each_item_its_own_thread(server: Server) -> None:  # noqa: F811
    remote = server.remote("ana")
    item = {"topic": TOPIC, "sources": [str(CORPUS)]}
    outs = remote.batch([item, item])
    assert [o["status"] for o in outs] == ["completed", "completed"]
    assert len({o["thread_id"] for o in outs}) == 2
    named = remote.batch(
        [item, item],
        config=[{"configurable": {"thread_id": "b1"}}, {"configurable": {"thread_id": "b2"}}],
    )
    assert [o["thread_id"] for o in named] == ["b1", "b2"]
    # one thread for two items is refused before anything runs
    with server.http("ana") as http:
        answer = http.post(
            "/langserve/brief/batch",
            json={"inputs": [item, item], "config": {"configurable": {"thread_id": "b3"}}},
        )
        assert answer.status_code == 422, answer.text
        assert http.get("/threads/b3").status_code == 404


def test_stream_events_reports_the_run(server: Server) -> None:  # noqa: F811
    remote = server.remote("ana")

    async def collect() -> list[dict[str, Any]]:
        return [
            e
            async for e in remote.astream_events(
                {"topic": TOPIC, "sources": [str(CORPUS)]},
                config={"configurable": {"thread_id": "e1"}},
                version="v2",
            )
        ]

    events = asyncio.run(collect())
    kinds = {e["event"] for e in events}
    assert {"on_chain_start", "on_chain_stream", "on_chain_end"} <= kinds
    streamed = [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"]
    assert streamed[-1]["status"] == "completed" and streamed[-1]["thread_id"] == "e1"
    assert any(c.get("step") == "researching" for c in streamed)


def test_training_inputs_are_accepted_flat(server: Server) -> None:  # noqa: F811
    remote = server.remote("ana", "training")
    flat = {
        "topic": "Gifts, bribery and conflicts of interest",
        "sources": [str(POLICIES)],
        "audience": "All office and depot staff",
        "duration": 30,
        "deadline": "2027-01-31",
        "language": "en",
    }
    out = remote.invoke(flat, config={"configurable": {"thread_id": "tr1"}})
    assert out["status"] == "awaiting_objectives_approval", out
    nested = {"topic": flat["topic"], "sources": flat["sources"], "inputs": {
        k: v for k, v in flat.items() if k not in ("topic", "sources")
    }}  # fmt: skip
    again = remote.invoke(nested, config={"configurable": {"thread_id": "tr2"}})
    assert again["status"] == "awaiting_objectives_approval"


def test_config_schema_offers_thread_id(server: Server) -> None:  # noqa: F811
    with server.http("ana") as http:
        schema = http.get("/langserve/brief/config_schema").json()
        inputs = http.get("/langserve/training/input_schema").json()
    fields = schema["$defs"]["Configurable"]["properties"]
    assert "thread_id" in fields
    assert {"audience", "duration", "deadline", "language"} <= set(inputs["properties"])
    assert '"null"' not in json.dumps(inputs), "the playground's forms cannot render null"


def test_playground_submits_a_topic_and_shows_the_result(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert CHROMIUM.exists(), "no /usr/bin/chromium (.ci/run installs it)"
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            extra_http_headers={"Authorization": f"Bearer {server.keys['ana']}"}
        )
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base}/langserve/brief/playground/", wait_until="networkidle")
        page.locator("textarea[id='#/properties/thread_id-input']").fill("pg1")
        page.locator("textarea[id='#/properties/topic-input']").fill(TOPIC)
        page.get_by_role("button", name="Add to Sources button").click()
        # the added array item's textarea has no id (the gate answer's `sources` is another)
        page.locator("textarea:not([id])").first.fill(str(CORPUS))
        page.get_by_role("button", name="Start").click()
        page.get_by_text('"completed"').first.wait_for(timeout=120_000)
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
        shown = page.inner_text("body")
        browser.close()
    assert errors == []
    assert "pg1" in shown and "Policy brief" in shown
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {server.keys['ana']}"}
    ) as http:
        assert http.get("/threads/pg1").json()["status"] == "completed"
