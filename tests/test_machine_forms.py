"""Declarations in both forms, strictly read: the design's nested form and the flat form load
to the same Machine, unknown keys are errors with file:line and a suggestion, and `lockstep
check` reports every problem at once."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.errors import MachineError
from lockstep.machine import check_machine, load_machine

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "machines"
DESIGN = ["brief_workflow", "brief_state_machine", "training_state_machine"]
SHIPPED = [
    *sorted((ROOT / "lockstep" / "graphs").glob("*.yaml")),
    ROOT / "examples/workflows/steps.yaml",
]


def to_flat(data: dict[str, Any]) -> dict[str, Any]:
    """The flat form of a nested declaration: one top-level list with `from:` (full paths)."""
    flat: list[dict[str, Any]] = []

    def walk(states: dict[str, Any], prefix: str) -> dict[str, Any]:
        out = {}
        for name, body in states.items():
            body = dict(body or {})
            full = f"{prefix}{name}"
            for t in body.pop("transitions", []):
                # a nested target names a sibling if there is one: the flat form writes paths
                target = f"{prefix}{t['target']}" if t["target"] in states else t["target"]
                flat.append({"from": full, **t, "target": target})
            if "states" in body:
                body["states"] = walk(body["states"], f"{full}.")
            out[name] = body
        return out

    result = dict(data)
    result["states"] = walk(data["states"], "")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for t in flat:
        by_source.setdefault(t["from"], []).append(t)
    # the order across states does not matter (within one state it does): write them backwards
    result["transitions"] = [t for src in reversed(by_source) for t in by_source[src]]
    return result


@pytest.mark.parametrize("name", DESIGN)
def test_nested_and_flat_forms_load_to_the_same_machine(name: str, tmp_path: Path) -> None:
    path = FIXTURES / f"{name}.yaml"
    nested = load_machine(path)
    flat_file = tmp_path / f"{name}.flat.yaml"
    flat_file.write_text(yaml.safe_dump(to_flat(yaml.safe_load(path.read_text())), sort_keys=True))
    flat = load_machine(flat_file)
    assert flat == nested
    assert nested.transitions and all(isinstance(t.line, int) for t in nested.transitions)


def test_training_fixture_is_the_shipped_training_machine() -> None:
    nested = load_machine(FIXTURES / "training_state_machine.yaml")
    shipped = load_machine(ROOT / "lockstep" / "graphs" / "training.yaml")
    assert dataclasses.replace(nested, name="training", description=shipped.description) == shipped


def test_a_changed_transition_makes_the_forms_differ(tmp_path: Path) -> None:
    data = yaml.safe_load((FIXTURES / "brief_workflow.yaml").read_text())
    flat = to_flat(data)
    flat["transitions"][0]["target"] = "failed"
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(flat, sort_keys=False))
    assert load_machine(tmp_path / "f.yaml") != load_machine(FIXTURES / "brief_workflow.yaml")


@pytest.mark.parametrize("path", [FIXTURES / f"{n}.yaml" for n in DESIGN] + SHIPPED, ids=str)
def test_design_and_shipped_machines_pass_the_static_checks(path: Path) -> None:
    assert check_machine(load_machine(path)) == []


BAD = """\
name: typos
initial: a
error_stat: failed
timeouts: {sesion: 1h}
states:
  a:
    timout: 10m
    on_enter: [log]
    transitions:
      - {event: go, target: b, gaurd: x > 1}
  b:
    checkpoint_frequncy: every_5_sources
    transitions:
      - {from: a, event: go, target: done}
  done: {type: final}
"""


def test_every_unknown_key_is_named_with_its_line_and_closest_key() -> None:
    with pytest.raises(MachineError) as info:
        load_machine(BAD)
    problems = info.value.problems
    assert (
        "<machine>:3: unknown key 'error_stat' in the machine; did you mean 'error_state'?"
        in problems
    )
    assert (
        "<machine>:4: unknown key 'sesion' in the timeouts of the machine; did you mean 'session'?"
        in problems
    )
    assert "<machine>:7: unknown key 'timout' in state 'a'; did you mean 'timeout'?" in problems
    assert (
        "<machine>:10: unknown key 'gaurd' in a transition of state 'a'; did you mean 'guard'?"
        in problems
    )
    assert (
        "<machine>:12: unknown key 'checkpoint_frequncy' in state 'b'; "
        "did you mean 'checkpoint_frequency'?"
    ) in problems
    assert any(
        p.startswith("<machine>:14: unknown key 'from' in a transition of state 'b'")
        for p in problems
    )
    assert len(problems) == 6, problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  a: {type: gate}\n", "unknown type 'gate'"),
        ("  a: {checkpoint: sometimes}\n", "checkpoint is true|false"),
        ("  a: {checkpoint_frequency: often}\n", "is not per_<unit>, every_<n>_<unit>"),
        ("  a: {timeouts: {session: soon}}\n", "not a duration"),
        ("  a: {on_enter: [{log: {}, notify: {}}]}\n", "each on_enter action is a name"),
        ("  a: {initial: x}\n", "'initial' needs 'states'"),
        ("  a: {initial: x, states: {y: {}}}\n", "initial 'x' is not one of its substates"),
    ],
)
def test_bad_values_are_reported(text: str, expected: str) -> None:
    doc = "name: x\ninitial: a\nstates:\n" + text + "  failed: {type: final}\ntransitions: []\n"
    with pytest.raises(MachineError, match=expected):
        load_machine(doc)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            "{type: human_gate, checkpoint: false, transitions: [{event: x, target: done}]}",
            "only a step has a checkpoint policy",
        ),
        (
            "{checkpoint_frequency: every_5_sources, transitions: [{event: x, target: done}]}",
            "has no self-transition",
        ),
        (
            "{at_boundaries: [y], transitions: [{event: x, target: b}, {event: z, target: done}]}",
            "at_boundaries names 'y'",
        ),
        ("{on_exit: [shout], transitions: [{event: x, target: done}]}", "unknown action 'shout'"),
    ],
)
def test_static_checks_understand_policies_and_actions(state: str, expected: str) -> None:
    doc = (
        "name: x\ninitial: s\nstates:\n  s: {transitions: [{event: go, target: b}]}\n"
        f"  b: {state}\n  done: {{type: final}}\n  failed: {{type: final}}\n"
    )
    problems = check_machine(load_machine(doc))
    assert any(expected in p for p in problems), problems


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", "check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_check_command_prints_every_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD.replace("target: b, gaurd", "target: nowhere, gaurd"))
    result = _check(str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert f"{bad}:7: unknown key 'timout' in state 'a'; did you mean 'timeout'?" in lines
    assert f"{bad}:10: transition a --go--> unknown target 'nowhere'" in lines
    assert f"{bad}:15: state 'done' is unreachable from 'a'" in lines
    assert lines[-1] == f"10 problems in {bad}"
    as_json = json.loads(_check(str(bad), "--json").stdout)
    assert as_json["ok"] is False and len(as_json["problems"]) == 10


def test_check_command_passes_a_clean_machine() -> None:
    result = _check("tests/machines/brief_state_machine.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "file": "tests/machines/brief_state_machine.yaml",
        "ok": True,
        "problems": [],
    }
