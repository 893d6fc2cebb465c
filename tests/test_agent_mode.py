"""Agent research mode: a tool-using agent inside the brief's machine, on the same corpus.

Offline (the deterministic tool-calling policy), through a real OpenAI-compatible HTTP server
on 127.0.0.1 with scripted tool calls, under its step budget, token budget and time limits
(the research clock on sync runs, LangGraph's TimeoutPolicy on async runs), and across a
kill -9 of a `lockstep run` subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage, messages_from_dict
from typer.testing import CliRunner

from lockstep import Lockstep, MachineError, OfflineChatModel, get_chat_model, load_machine
from lockstep.aclient import AsyncLockstep
from lockstep.artifacts.store import ArtifactStore
from lockstep.cli import app
from lockstep.db import Database
from lockstep.errors import InvalidDecision, RequestError
from lockstep.machine import compile_machine
from lockstep.research.citations import verify
from lockstep.research.corpus import load_corpus
from lockstep.research.tools import ResearchDesk, research_tools, run_tool_call
from tests.conftest import ROOT
from tests.fakeopenai import FakeOpenAI, serve

TOPIC = "Should Calder Bay cap and register short-term rentals?"


def _texts(folder: Path) -> dict[str, str]:
    docs, _ = load_corpus(folder)
    return {d.path: d.text for d in docs}


def _events(client: Lockstep, thread: str) -> list[tuple[str, str]]:
    return [(t["from"], t["event"]) for t in client.transitions(thread)]


def _tool_results(values: dict[str, Any]) -> list[ToolMessage]:
    messages = messages_from_dict(values["agent"]["messages"])
    return [m for m in messages if isinstance(m, ToolMessage)]


def _call(name: str, args: Any, call_id: str) -> dict[str, Any]:
    """A tool call as an OpenAI server sends it (arguments are a JSON string)."""
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_agent_mode_completes_offline_and_passes_verification(db_url: str, corpus: Path) -> None:
    with Lockstep(db_url) as client:
        locked = client.run("brief", topic=TOPIC, sources=[str(corpus)])
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
        assert st.status == "completed", st
        values = client.values(st.thread_id)
        events = _events(client, st.thread_id)
        final = client.artifact(st.thread_id, "final")[1].decode()
        report = client.artifacts.json(client.artifacts.latest(st.thread_id, "sources"))
        locked_report = client.artifacts.json(client.artifacts.latest(locked.thread_id, "sources"))
    # the agent's own state, entered instead of the locked one, one step per turn or call
    assert events[0] == ("requested", "validated") and values["research_mode"] == "agent"
    assert not any(source == "researching" for source, _ in events)
    assert events.count(("agent_researching", "model_turn")) == 3
    assert events.count(("agent_researching", "tool_called")) == values["agent"]["tool_calls"] - 1
    assert ("agent_researching", "sources_gathered") in events
    assert values["agent"]["finished"].startswith("done: ")
    assert st.usage["agent_researching"]["calls"] == 3  # metered like any LLM step
    with Lockstep(db_url) as client:  # the round's transcript is kept as an artifact
        transcript = client.artifacts.json(
            client.artifacts.latest(st.thread_id, "research-transcript")
        )
    assert transcript["messages"] == values["agent"]["messages"]
    assert transcript["tool_calls"] == values["agent"]["tool_calls"] == 16
    # the same sources artifact as locked mode: same keys, real sentences with true spans
    assert report.keys() == locked_report.keys()
    assert report["sources"][0].keys() == locked_report["sources"][0].keys()
    assert (
        report["sources"][0]["quotes"][0].keys() == locked_report["sources"][0]["quotes"][0].keys()
    )
    texts = _texts(corpus)
    assert len(report["sources"]) >= 3 and values["gathered"] == [
        s["key"] for s in report["sources"]
    ]
    for source in report["sources"]:
        for quote in source["quotes"]:
            span = texts[source["path"]][quote["start"] : quote["end"]]
            assert " ".join(span.split()) == quote["text"]
    result = verify(final, texts, gathered=set(values["gathered"]))
    assert result.ok and len(result.citations) >= 8, result.failures


def test_bad_tool_calls_come_back_as_tool_errors(tmp_path: Path, corpus: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    report: dict[str, Any] = {"topic": TOPIC, "rounds": 1, "sources": [], "skipped": []}
    desk = ResearchDesk([str(corpus)], TOPIC, report, ArtifactStore(db).blobs)
    tools = {t.name: t for t in research_tools(desk)}

    def run(name: str, args: Any, **extra: Any) -> ToolMessage:
        return run_tool_call(tools, {"name": name, "args": args, "id": "c1", **extra})

    bad = {
        "unknown tool 'delete_corpus': use one of search, fetch, extract, done": run(
            "delete_corpus", {}
        ),
        "invalid arguments: quote: Extra inputs are not permitted": run(
            "extract", {"doc_id": "council-staff-report.md", "query": "cap", "quote": "made up"}
        ),
        "invalid arguments: query: Field required": run("search", {}),
        "invalid arguments: query: String should have at least 1 character": run(
            "search", {"query": ""}
        ),
        "unknown doc_id 'no-such.md': use an id exactly as search results list it": run(
            "fetch", {"doc_id": "no-such.md"}
        ),
        "invalid arguments: expected a JSON object": run("search", ["cap"]),
        "invalid arguments: not a JSON object (Expecting value)": run(
            "search", "{oops", invalid=True, error="Expecting value"
        ),
    }
    for expected, message in bad.items():
        assert message.status == "error" and message.tool_call_id == "c1"
        assert str(message.content).startswith(expected), message.content
    assert report["sources"] == [] and desk.finished is None  # nothing was gathered or ended
    good = run("extract", {"doc_id": "council-staff-report.md", "query": "registration cap"})
    assert good.status == "success" and len(report["sources"]) == 1 and desk.changed
    quotes = report["sources"][0]["quotes"]
    assert quotes and all(q["text"] in str(good.content) for q in quotes)


@pytest.fixture
def remote_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("LOCKSTEP_RETRY_INTERVAL", "0.01")
    monkeypatch.setenv("LOCKSTEP_LLM_TIMEOUT", "5")
    return monkeypatch


SCRIPT = [
    {"tool_calls": [_call("search", {"query": TOPIC}, "s1")]},
    {
        "tool_calls": [
            _call("fetch", {"doc_id": "housing-market-study.md"}, "f1"),
            _call(
                "extract",
                {"doc_id": "housing-market-study.md", "query": "rent", "quote": "Rents fell."},
                "bad1",
            ),
            _call("delete_corpus", {}, "bad2"),
            _call("search", "{oops", "bad3"),
        ]
    },
    {
        "tool_calls": [
            _call(
                "extract",
                {"doc_id": "housing-market-study.md", "query": "rent increase share"},
                "e1",
            ),
            _call(
                "extract",
                {"doc_id": "enforcement-lessons-other-cities.html", "query": "registration"},
                "e2",
            ),
            _call("extract", {"doc_id": "tax-revenue-analysis.md", "query": "revenue tax"}, "e3"),
            _call(
                "extract",
                {"doc_id": "neighbourhood-complaints-data.md", "query": "complaints noise"},
                "e4",
            ),
            _call(
                "extract",
                {"doc_id": "fire-safety-inspection-memo.txt", "query": "fire safety"},
                "e5",
            ),
        ]
    },
    {"tool_calls": [_call("done", {"reason": "five documents have evidence"}, "d1")]},
]


def test_scripted_tool_calls_over_http_drive_an_openai_model(
    remote_env: pytest.MonkeyPatch, tmp_path: Path, corpus: Path
) -> None:
    fake = FakeOpenAI(replies=[dict(r) for r in SCRIPT])
    with serve(fake) as url:
        remote_env.setenv("OPENAI_BASE_URL", url)
        with Lockstep(
            f"sqlite:///{tmp_path / 'db.sqlite'}", model=get_chat_model("openai:fake-model")
        ) as client:
            st = client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
            assert st.status == "completed", st
            values = client.values(st.thread_id)
            final = client.artifact(st.thread_id, "final")[1].decode()
    assert fake.log.count("scripted") == 4 and not fake.replies  # all served over HTTP
    results = {m.tool_call_id: m for m in _tool_results(values)}
    assert list(results) == ["s1", "f1", "bad1", "bad2", "bad3", "e1", "e2", "e3", "e4", "e5", "d1"]
    assert [k for k, m in results.items() if m.status == "error"] == ["bad1", "bad2", "bad3"]
    assert "quote: Extra inputs are not permitted" in str(results["bad1"].content)
    assert values["agent"] == {
        **values["agent"],
        "tool_calls": 11,
        "finished": "done: five documents have evidence",
    }
    # the model saw its errors: the next request carries them as tool messages
    after = next(
        b for b in fake.requests if any(m.get("tool_call_id") == "bad2" for m in b["messages"])
    )
    tool_messages = {
        m["tool_call_id"]: m["content"] for m in after["messages"] if m["role"] == "tool"
    }
    assert tool_messages["bad2"].startswith("unknown tool 'delete_corpus'")
    assert tool_messages["bad3"].startswith("invalid arguments: not a JSON object")
    assert {t["function"]["name"] for t in after["tools"]} == {"search", "fetch", "extract", "done"}
    assert values["gathered"] == [
        "housing-market-study.md",
        "enforcement-lessons-other-cities.html",
        "tax-revenue-analysis.md",
        "neighbourhood-complaints-data.md",
        "fire-safety-inspection-memo.txt",
    ]
    assert "Rents fell." not in final
    assert verify(final, _texts(corpus), gathered=set(values["gathered"])).ok


def test_step_budget_ends_research_with_the_sources_gathered(tmp_path: Path, corpus: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # the policy searches 5 times, then fetches and extracts: 8 calls leave 1 source
    with Lockstep(url, agent_max_tool_calls=8) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
        assert st.status == "human_input_needed" and st.gate is not None
        values = client.values(st.thread_id)
        assert values["agent"]["tool_calls"] == 8
        assert values["agent"]["finished"] == "step budget of 8 tool calls spent"
        assert st.gate["review"]["sources_found"] == 1 == len(values["gathered"])
        assert st.gate["review"]["agent_tool_calls"] == 8
        done = client.resume(st.thread_id, "proceed", by="ana")  # draft with what was found
        assert done.status == "completed", done
        final = client.artifact(st.thread_id, "final")[1].decode()
        assert verify(final, _texts(corpus), gathered=set(values["gathered"])).ok
    # two more calls reach the third source: the machine's path goes on to outlining
    with Lockstep(url, agent_max_tool_calls=10) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
        assert st.status == "completed"
        values = client.values(st.thread_id)
        assert values["agent"]["tool_calls"] == 10 and len(values["gathered"]) == 3
        assert ("agent_researching", "sources_gathered") in _events(client, st.thread_id)


def test_token_budget_stops_the_agent_at_human_review(tmp_path: Path, corpus: Path) -> None:
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}", llm_tokens=1) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
        assert st.status == "human_review" and st.gate is not None
        assert _events(client, st.thread_id) == [
            ("requested", "validated"),
            ("agent_researching", "model_turn"),  # the budget was not spent before this call
            ("agent_researching", "budget_exhausted"),
        ]
        assert st.usage["agent_researching"]["calls"] == 1
        assert st.gate["review"]["reason"] == "budget"
        assert st.error == "the run's LLM token budget is spent"
        assert client.artifacts.latest(st.thread_id, "sources") is not None  # round on record
        # no draft exists, so the gate does not offer approving one (which would complete
        # the brief with no final artifact), and refuses it with the thread unchanged
        assert st.gate["decisions"] == ["revise", "abandon"]
        with pytest.raises(InvalidDecision, match="does not allow decision 'approve'"):
            client.resume(st.thread_id, "approve", by="ana")
        assert client.status(st.thread_id).status == "human_review"


class SteppingClock:
    """Each reading is `tick` seconds after the last (set `tick = 0` to stop time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self.tick = 1.0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=self.tick)
        return self.now


def test_research_time_limit_asks_then_retry_continues_the_same_round(
    tmp_path: Path, corpus: Path
) -> None:
    clock = SteppingClock()
    with Lockstep(f"sqlite:///{tmp_path / 'db.sqlite'}", clock=clock, research_timeout=5) as c:
        st = c.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent")
        assert st.status == "research_timeout" and st.gate is not None
        assert _events(c, st.thread_id)[-1] == ("agent_researching", "timeout")
        before = c.values(st.thread_id)["agent"]
        assert 0 < before["tool_calls"] < 16 and before["finished"] is None
        clock.tick = 0
        done = c.resume(st.thread_id, "retry", by="ana")
        assert done.status == "completed", done
        after = c.values(st.thread_id)
        events = _events(c, st.thread_id)
    # the retry carried on from the checkpointed transcript rather than starting over
    assert after["agent"]["messages"][: len(before["messages"])] == before["messages"]
    assert (
        after["agent"]["tool_calls"] == 16
        and events.count(("agent_researching", "model_turn")) == 3
    )


def test_async_runs_bound_the_agent_step_with_langgraphs_timeout_policy(
    tmp_path: Path, corpus: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    slow = OfflineChatModel(delay=1.5)  # every model call outlasts the 0.3 s limit

    async def scenario() -> tuple[Any, Any]:
        async with AsyncLockstep(url, model=slow, research_timeout=0.3) as client:
            node = client.graph("brief").nodes["agent_researching"]
            st = await client.run(
                "brief", topic=TOPIC, sources=[str(corpus)], research_mode="agent"
            )
            return node.timeout, st

    policy, st = asyncio.run(scenario())
    assert policy is not None and policy.run_timeout == 0.3
    assert st.status == "research_timeout" and st.gate is not None, st
    assert st.error.startswith("step 'agent_researching' ran past its time limit: Node")
    with Lockstep(url) as client:
        assert _events(client, st.thread_id)[-1] == ("agent_researching", "timeout")
        audit = [r["detail"] for r in client.audit(st.thread_id) if r["kind"] == "transition"]
        assert audit[-1]["event"] == "timeout" and "run timeout of 0.300s" in audit[-1]["error"]


def test_timeout_policy_needs_an_async_step() -> None:
    machine = load_machine(
        "name: t\ninitial: a\nerror_state: failed\nstates:\n  a: {}\n  done: {type: final}\n"
        "  failed: {type: final}\ntransitions:\n  - {from: a, event: ok, target: done}\n"
    )
    with pytest.raises(MachineError, match="TimeoutPolicy applies only to async nodes"):
        compile_machine(machine, dict, {"a": lambda s, r: {"event": "ok"}}, timeouts={"a": 1.0})


def test_research_mode_is_one_input_checked_before_any_work(tmp_path: Path, corpus: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with Lockstep(url) as client:
        with pytest.raises(RequestError, match="unknown research mode 'autopilot': use one of"):
            client.run("brief", topic=TOPIC, sources=[str(corpus)], research_mode="autopilot")
        assert list(client.threads()) == []
    # the CLI's run and submit pass it as the same input, through the same check
    runner = CliRunner()
    brief = ["brief", "--topic", TOPIC, "--sources", str(corpus), "--db", url]
    bad = runner.invoke(app, ["run", *brief, "--research-mode", "autopilot"])
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: unknown research mode 'autopilot': use one of locked, agent"
    )
    queued = runner.invoke(app, ["submit", *brief, "--research-mode", "agent", "--json"])
    assert queued.exit_code == 0, queued.output
    job = json.loads(queued.stdout)
    assert job["input"] == {"topic": TOPIC, "sources": [str(corpus)], "research_mode": "agent"}
    with Lockstep(url) as client:
        st = client.continue_run("brief", job["thread_id"], job["input"])  # as a worker does
        assert st.status == "completed"
        assert _events(client, st.thread_id)[1] == ("agent_researching", "model_turn")
        assert client.values(st.thread_id)["research_mode"] == "agent"


@pytest.mark.slow
def test_kill_9_mid_research_resumes_without_redoing_tool_calls(db_url: str) -> None:
    env = {**os.environ, "LOCKSTEP_OFFLINE_DELAY": "0.5", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "lockstep", "run", "brief", "--topic", TOPIC]
    command += ["--sources", str(ROOT / "examples" / "corpus"), "--research-mode", "agent"]
    proc = subprocess.Popen(
        [*command, "--thread-id", "k1", "--db", db_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    with Lockstep(db_url) as watcher:
        while time.monotonic() < deadline:
            if watcher.db.thread("k1") is not None:
                events = [t["event"] for t in watcher.transitions("k1")]
                if events.count("tool_called") >= 3:
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the run never reached its third tool call")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        crashed = watcher.values("k1")
        # killed after a step's writes were saved but before its checkpoint: the step is not
        # re-run, but resuming streams its saved update once more
        raw = watcher.graph("brief").get_state({"configurable": {"thread_id": "k1"}})
        replayed = 0 if raw.next else 1
    assert crashed["status"] == "agent_researching"
    done_before = crashed["agent"]["tool_calls"]
    assert done_before >= 3

    steps: list[str] = []
    with Lockstep(db_url) as client:
        st = client.resume(
            "k1",
            on_update=lambda node, u: steps.extend(
                t["event"] for t in u.get("transitions") or [] if t["from"] == "agent_researching"
            ),
        )
        assert st.status == "completed", st
        after = client.values("k1")
        whole_log = client.transitions("k1")
        report_text = client.artifact("k1", "final")[1].decode()
    total = after["agent"]["tool_calls"]
    # each remaining call ran once after the crash (the last step ran `done` and finished);
    # none of the calls checkpointed before it ran again
    assert steps.count("tool_called") + 1 == total - done_before + replayed
    assert (
        after["agent"]["messages"][: len(crashed["agent"]["messages"])]
        == crashed["agent"]["messages"]
    )
    ids = [m.tool_call_id for m in _tool_results(after)]
    assert len(ids) == len(set(ids)) == total == 16
    log = [(t["from"], t["event"]) for t in whole_log]
    assert [t["n"] for t in whole_log] == list(range(1, len(whole_log) + 1))
    assert log.count(("agent_researching", "model_turn")) == 3
    assert verify(report_text, _texts(ROOT / "examples" / "corpus")).ok
