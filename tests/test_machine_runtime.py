"""The design's machines running: hierarchy, entry/exit actions (once, across kill -9),
checkpoint policies (counted, and kill -9 at their boundaries) and the session timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command

sys.path.insert(0, str(Path(__file__).parent / "machines"))
from harness import Clock, build, drive

from lockstep.machine import to_mermaid, to_svg
from lockstep.machine.actions import ActionRun, on_notify
from lockstep.machine.session import MESSAGE
from lockstep.threads import whole_log

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "machines" / "harness.py"

WORKFLOW_PLAN = {
    "requested": ["validated"],
    "researching": ["source_read", "research_error", "source_read", "sources_gathered"],
    "research_error": ["retry"],
    "outlining": ["outline_complete"],
    "drafting": ["section_written", "section_written", "draft_complete"],
    "verifying": ["passed"],
}
STATE_MACHINE_PLAN = {
    "requested": ["validated"],
    "researching.searching": ["sources_found"],
    "researching.extracting": ["source_extracted"] * 6 + ["research_complete"],
    "outlining": ["outline_complete"],
    "drafting": ["section_written", "section_written", "draft_complete"],
    "verifying": ["passed"],
}
TRAINING_PLAN = {
    "intake": ["validated"],
    "designing_objectives": ["objectives_ready"],
    "designing_assessments": ["designs_ready"],
    "alignment_check": ["aligned"],
    "accessibility_check": ["accessible"],
    "exporting": ["exported"],
}


def _path(snapshot: Any, ctx: Any) -> list[str]:
    """Every state the thread entered: state keeps a tail of the log, the journal all of it."""
    thread = snapshot.config["configurable"]["thread_id"]
    journaled = [r["detail"] for r in ctx.db.audit(thread) if r["kind"] == "transition"]
    return [t["to"] for t in whole_log(snapshot.values["transitions"], journaled)]


def _answer(graph: Any, ctx: Any, thread: str, decision: str, **extra: Any) -> Any:
    pending = graph.get_state({"configurable": {"thread_id": thread}}).interrupts[0]
    return drive(graph, ctx, thread, Command(resume={pending.id: {"decision": decision, **extra}}))


def test_brief_workflow_runs_to_completed_with_a_retried_research_error(sqlite_url: str) -> None:
    _machine, graph, ctx = build("brief_workflow", sqlite_url)
    snap = drive(graph, ctx, "t1", {"plan": WORKFLOW_PLAN})
    assert snap.values["status"] == "completed"
    assert "research_error" in _path(snap, ctx)
    assert snap.values["counters"] == {"retry_count": 1}
    actions = [r["detail"]["action"] for r in ctx.db.audit("t1") if r["kind"] == "action"]
    assert actions.count("log") == 3  # researching entered twice, verifying exited once
    assert "log(message=research failed)" in actions


def test_brief_state_machine_runs_through_its_hierarchy_and_gates(sqlite_url: str) -> None:
    _machine, graph, ctx = build("brief_state_machine", sqlite_url)
    plan = {**STATE_MACHINE_PLAN, "verifying": ["citations_failed"] * 3 + ["passed"]}
    snap = drive(graph, ctx, "t1", {"plan": plan})
    assert snap.values["status"] == "completed"
    assert _path(snap, ctx)[:3] == [
        "researching.searching",
        "researching.extracting",
        "researching.extracting",
    ]
    saved = ctx.artifacts.history("t1", "final") if hasattr(ctx.artifacts, "history") else None
    kinds = [r["detail"]["action"] for r in ctx.db.audit("t1") if r["kind"] == "action"]
    assert "save_artifact(key=draft, name=final)" in kinds
    assert saved is None or saved


def test_training_state_machine_runs_with_its_gates(sqlite_url: str) -> None:
    machine, graph, ctx = build("training_state_machine", sqlite_url)
    drive(graph, ctx, "t1", {"plan": TRAINING_PLAN})
    snap = _answer(graph, ctx, "t1", "approved", by="ana")
    snap = _answer(graph, ctx, "t1", "approved", by="ana")
    assert snap.values["status"] == "completed"
    assert machine.states["designing_assessments"].branches == ("assessments", "activities")


def test_a_parent_transition_applies_from_every_child(sqlite_url: str) -> None:
    _machine, graph, ctx = build("brief_state_machine", sqlite_url)
    plan = {**STATE_MACHINE_PLAN, "researching.extracting": ["source_extracted", "cancel"]}
    snap = drive(graph, ctx, "t1", {"plan": plan})
    assert snap.values["status"] == "cancelled"
    assert snap.values["transitions"][-1]["from"] == "researching.extracting"
    timed = {**STATE_MACHINE_PLAN, "researching.searching": ["timeout"]}
    snap = drive(graph, ctx, "t2", {"plan": timed})
    assert snap.values["status"] == "research_timeout"
    assert snap.interrupts[0].value["decisions"] == ["retry", "proceed", "cancel"]
    # researching was exited (its on_exit ran) and re-entering it starts at its initial leaf
    snap = _answer(graph, ctx, "t2", "retry")
    assert [r["detail"]["state"] for r in ctx.db.audit("t2") if r["kind"] == "action"][:3] == [
        "researching",
        "researching",
        "researching",
    ]
    assert "researching.searching" in _path(snap, ctx)[2:]


def test_status_shows_the_full_path_inside_a_compound(sqlite_url: str) -> None:
    _machine, graph, ctx = build("brief_state_machine", sqlite_url)
    plan = {**STATE_MACHINE_PLAN, "researching.extracting": ["source_extracted", "bogus"]}
    os.environ["KILL_AT"] = ""
    snap = drive(graph, ctx, "t1", {"plan": {**plan, "researching.searching": ["sources_found"]}})
    assert "researching.extracting" in _path(snap, ctx)
    assert snap.values["status"] == "failed"  # an undeclared event goes to the error state
    assert "no transition from 'researching.extracting' on event 'bogus'" in snap.values["error"]


def test_diagrams_draw_the_hierarchy() -> None:
    from lockstep.machine import load_machine

    machine = load_machine(ROOT / "tests" / "machines" / "brief_state_machine.yaml")
    text = to_mermaid(machine, highlight="researching.extracting")
    assert "    state researching {" in text
    assert "        [*] --> researching__searching" in text
    assert "    researching --> cancelled: cancel" in text
    assert "researching --> [*]" not in text
    assert "note right of researching" in text and "on_enter: log" in text
    assert "class researching__extracting current" in text
    svg = to_svg(machine, highlight="researching.extracting").decode()
    assert "cluster_researching" in svg
    assert "on_enter: notify(event=review_needed)" in svg


def _run(
    fixture: str, url: str, thread: str, plan: dict[str, Any], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HARNESS), fixture, url, thread, json.dumps(plan)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=180,
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


ACTIONS = """\
name: acts
initial: a
error_state: failed
states:
  a:
    transitions: [{event: go, target: b}]
  b:
    on_enter: [record, die]
    on_exit: [record]
    transitions: [{event: go, target: done}]
  done: {type: final}
  failed: {type: final}
"""


def test_entry_actions_run_once_across_kill_9(db_url: str, tmp_path: Path) -> None:
    fixture = tmp_path / "acts.yaml"
    fixture.write_text(ACTIONS)
    env = {
        "ACTION_LOG": str(tmp_path / "actions"),
        "KILL_MARKER": str(tmp_path / "kill"),
        "STEP_LOG": str(tmp_path / "steps"),
    }
    plan = {"a": ["go"], "b": ["go"]}
    first = _run(str(fixture), db_url, "t1", plan, env)
    assert first.returncode == -9, first.stderr  # killed by `die`, after `record` committed
    assert _lines(tmp_path / "actions") == ["enter:b"]
    second = _run(str(fixture), db_url, "t1", plan, env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["status"] == "done"
    # step a ran twice (its task was cut short), the entry action once, the exit action once
    assert _lines(tmp_path / "steps") == ["a", "a", "b"]
    assert _lines(tmp_path / "actions") == ["enter:b", "exit:b"]


POLICY = """\
name: pol
initial: start
error_state: failed
states:
  start:
    transitions: [{{event: go, target: reading}}]
  reading:
    checkpoint_frequency: {freq}
    transitions:
      - {{event: source_read, target: reading}}
      - {{event: done, target: tidy}}
  tidy:
    checkpoint: false
    transitions: [{{event: go, target: finish}}]
  finish:
    transitions: [{{event: go, target: done}}]
  done: {{type: final}}
  failed: {{type: final}}
"""
PLAN = {
    "start": ["go"],
    "reading": ["source_read"] * 11 + ["done"],
    "tidy": ["go"],
    "finish": ["go"],
}


def _checkpoints(graph: Any, thread: str) -> int:
    return len(list(graph.checkpointer.list({"configurable": {"thread_id": thread}})))


@pytest.mark.parametrize(
    ("freq", "reading_supersteps"),
    [("per_source", 12), ("every_5_sources", 3), ("every_12_sources", 1)],
)
def test_checkpoint_frequency_counts(
    sqlite_url: str, tmp_path: Path, freq: str, reading_supersteps: int
) -> None:
    fixture = tmp_path / "pol.yaml"
    fixture.write_text(POLICY.format(freq=freq))
    _machine, graph, ctx = build(fixture, sqlite_url)
    snap = drive(graph, ctx, "t1", {"plan": PLAN})
    assert snap.values["status"] == "done"
    assert snap.values["ran"]["reading"] == 12
    # input + start + reading's supersteps (tidy folded into the last) + finish
    assert _checkpoints(graph, "t1") == 1 + 1 + reading_supersteps + 1 + 1


def test_time_frequency_folds_by_the_clock(sqlite_url: str, tmp_path: Path) -> None:
    fixture = tmp_path / "pol.yaml"
    fixture.write_text(POLICY.format(freq="every_5_minutes"))
    _machine, graph, ctx = build(fixture, sqlite_url)
    ctx.clock = Clock(tick=120)  # each step takes two minutes: 3 steps per 5-minute superstep
    drive(graph, ctx, "t1", {"plan": PLAN})
    assert _checkpoints(graph, "t1") == 1 + 1 + 4 + 1 + 1


def test_at_boundaries(sqlite_url: str, tmp_path: Path) -> None:
    text = POLICY.format(freq="per_source").replace(
        "checkpoint_frequency: per_source", "at_boundaries: [chapter]"
    )
    text = text.replace(
        "      - {event: done, target: tidy}",
        "      - {event: done, target: tidy}\n      - {event: chapter, target: reading}",
    )
    fixture = tmp_path / "pol.yaml"
    fixture.write_text(text)
    _machine, graph, ctx = build(fixture, sqlite_url)
    drive(
        graph, ctx, "t1", {"plan": {**PLAN, "reading": ["source_read", "chapter"] * 3 + ["done"]}}
    )
    # reading's 7 steps: a superstep ends at each `chapter` (3), and the last step leaves
    assert _checkpoints(graph, "t1") == 1 + 1 + 4 + 1 + 1


@pytest.mark.parametrize(
    ("kill_at", "repeated"),
    [
        ("reading:3", ["reading"] * 3),
        ("reading:7", ["reading"] * 2),
        ("tidy:1", ["reading"] * 2 + ["tidy"]),
    ],
)
def test_kill_9_repeats_only_the_steps_since_the_last_checkpoint(
    db_url: str, tmp_path: Path, kill_at: str, repeated: list[str]
) -> None:
    fixture = tmp_path / "pol.yaml"
    fixture.write_text(POLICY.format(freq="every_5_sources"))
    env = {
        "STEP_LOG": str(tmp_path / "steps"),
        "KILL_MARKER": str(tmp_path / "kill"),
        "KILL_AT": kill_at,
    }
    first = _run(str(fixture), db_url, "t1", PLAN, env)
    assert first.returncode == -9, first.stderr
    before = _lines(tmp_path / "steps")
    second = _run(str(fixture), db_url, "t1", PLAN, env)
    assert json.loads(second.stdout)["status"] == "done", second.stderr
    after = _lines(tmp_path / "steps")[len(before) :]
    # what the crash repeated: the steps of the superstep it cut short
    assert after[: len(repeated)] == repeated
    assert after.count("reading") + before.count("reading") == 12 + len(
        [r for r in repeated if r == "reading"]
    )


def test_session_timeout_pauses_notifies_and_resumes(sqlite_url: str) -> None:
    sent: list[tuple[str, str]] = []

    def hook(run: ActionRun, event: str) -> list[str]:
        sent.append((run.thread_id, event))
        return [f"note-{len(sent)}"]

    on_notify(hook)
    _machine, graph, ctx = build("brief_workflow", sqlite_url)
    ctx.clock = Clock(tick=3600)  # every step takes an hour; the session is 4h
    plan = {**WORKFLOW_PLAN, "researching": ["source_read"] * 5 + ["sources_gathered"]}
    snap = drive(graph, ctx, "t1", {"plan": plan})
    payload = snap.interrupts[0].value
    assert payload["session_expired"] is True
    assert payload["message"] == MESSAGE
    assert snap.values["status"] == "researching"  # the work so far is saved in its checkpoint
    done_before = snap.values["ran"]["researching"]
    assert ("t1", "review_needed") not in sent and ("t1", "session_expired") in sent
    assert [r for r in ctx.db.audit("t1") if r["kind"] == "session_expired"]
    ctx.clock.tick = 60  # the resumed session has 4 hours again; the rest takes minutes
    snap = _answer(graph, ctx, "t1", "resume", at=ctx.clock().isoformat())
    assert snap.values["status"] == "completed"
    assert snap.values["ran"]["researching"] == 6 and done_before < 6
    assert sent.count(("t1", "session_expired")) == 1
