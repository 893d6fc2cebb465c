"""The agent layer under faults, against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep import ConfigError, Lockstep, get_chat_model
from lockstep.research.citations import verify
from lockstep.research.corpus import load_corpus
from tests.fakeopenai import FakeOpenAI, serve

TOPIC = "Should Calder Bay cap and register short-term rentals?"


@pytest.fixture
def remote_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("LOCKSTEP_RETRY_INTERVAL", "0.01")
    monkeypatch.setenv("LOCKSTEP_LLM_TIMEOUT", "1")
    return monkeypatch


def _texts(folder: Path) -> dict[str, str]:
    docs, _ = load_corpus(folder)
    return {d.path: d.text for d in docs}


def test_every_fault_kind_is_retried(
    remote_env: pytest.MonkeyPatch, db_url: str, corpus: Path
) -> None:
    faults = ["429", "500", "503", "reset", "malformed", "empty", "slow"]
    script = [step for fault in faults for step in (fault, "ok")]
    fake = FakeOpenAI(script=script, slow_seconds=2.5)
    with serve(fake) as url:
        remote_env.setenv("OPENAI_BASE_URL", url)
        with Lockstep(db_url, model=get_chat_model("openai:fake-model")) as client:
            st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
            assert st.status == "completed", st
            text = client.artifact(st.thread_id, "final")[1].decode()
    assert fake.log[: len(script)] == script  # every scripted fault was served, then retried
    assert verify(text, _texts(corpus)).ok


def test_brief_completes_with_40_percent_of_requests_faulted(
    remote_env: pytest.MonkeyPatch, db_url: str, corpus: Path
) -> None:
    fake = FakeOpenAI(fault_rate=0.4)  # the brief makes ~9 requests: at least 3 fail
    with serve(fake) as url:
        remote_env.setenv("OPENAI_BASE_URL", url)
        with Lockstep(db_url, model=get_chat_model("openai:fake-model")) as client:
            st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
            assert st.status == "completed", st
            text = client.artifact(st.thread_id, "final")[1].decode()
    faulted = sum(outcome != "ok" for outcome in fake.log)
    assert faulted == int(len(fake.log) * 0.4) >= 3, fake.log  # 40% of all requests, spread
    report = verify(text, _texts(corpus))
    assert report.ok and len(report.citations) >= 8


def test_model_settings_fail_before_any_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY"):
        get_chat_model("openai:gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"unknown model 'claude': use one of offline, openai:"):
        get_chat_model("claude")
    with pytest.raises(ConfigError, match="needs the langchain-ollama package: pip install"):
        get_chat_model("ollama:llama3")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs ANTHROPIC_API_KEY set"):
        get_chat_model("anthropic:claude-sonnet")
    with pytest.raises(ConfigError, match=r"unknown model 'nonsense:x' \(Unsupported provider"):
        get_chat_model("nonsense:x")


def test_exhausted_retries_take_the_declared_failure_transition(
    remote_env: pytest.MonkeyPatch, db_url: str, corpus: Path
) -> None:
    fake = FakeOpenAI(fault_rate=1.0, faults=("503",))  # the server never recovers
    with serve(fake) as url:
        remote_env.setenv("OPENAI_BASE_URL", url)
        with Lockstep(db_url, model=get_chat_model("openai:fake-model")) as client:
            st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
            assert st.status == "human_review" and st.gate is not None
            # the first model call is the outline's, in its own step
            assert st.error and "step 'outlining' failed after retries" in st.error
            assert "503" in st.error
            path = [(t["from"], t["event"], t["to"]) for t in client.transitions(st.thread_id)]
            assert path[-1] == ("outlining", "step_failed", "human_review")
            assert len(fake.log) == 4  # one request per attempt of the RetryPolicy
            assert client.artifacts.latest(st.thread_id, "sources") is not None  # work kept
            assert client.artifacts.latest(st.thread_id, "outline") is None
            rows = [r for r in client.audit(st.thread_id) if r["kind"] == "transition"]
            assert rows[-1]["detail"]["event"] == "step_failed" and rows[-1]["detail"]["error"]
            # the server recovers; with no outline yet, `revise` sends the thread back to
            # outlining (not to drafting), and the run completes
            fake.fault_rate = 0.0
            st = client.resume(st.thread_id, "revise", comment="try again", by="ana")
            assert st.status == "completed", st
            path = [(t["from"], t["event"], t["to"]) for t in client.transitions(st.thread_id)]
            assert ("human_review", "revise", "outlining") in path
            assert path.count(("outlining", "outline_complete", "drafting")) == 1


@pytest.mark.parametrize(
    ("refuse", "method"),
    [((), "json_schema"), (("response_format",), "tools"), (("response_format", "tools"), "text")],
)
def test_structured_output_steps_down_when_the_server_refuses(
    remote_env: pytest.MonkeyPatch, tmp_path: Path, corpus: Path, refuse: tuple, method: str
) -> None:
    fake = FakeOpenAI(refuse=refuse)
    with serve(fake) as url:
        remote_env.setenv("OPENAI_BASE_URL", url)
        with Lockstep(
            f"sqlite:///{tmp_path / 'db.sqlite'}", model=get_chat_model("openai:fake-model")
        ) as client:
            st = client.run("brief", topic=TOPIC, sources=[str(corpus)])
            assert st.status == "completed", st
            outline = client.artifacts.json(client.artifacts.latest(st.thread_id, "outline"))
    assert len(outline["sections"]) >= 3
    refused = [entry for entry in fake.log if entry.startswith("refused")]
    assert len(refused) == {"json_schema": 0, "tools": 1, "text": 2}[method], fake.log
