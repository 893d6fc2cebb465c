"""The machine layer: declarations, static checks, guards, routing and diagrams."""

from __future__ import annotations

import pytest

from lockstep.errors import ConfigError, MachineError
from lockstep.graphs.brief import MACHINE as BRIEF
from lockstep.machine import check_machine, load_machine, parse_duration, to_mermaid, write_png
from lockstep.machine.compile import compile_machine, decision_problem, state_fields
from lockstep.machine.guards import eval_guard, guard_names
from lockstep.state.brief import BriefState

GOOD = """
name: tiny
initial: a
error_state: failed
counters: {tries: attempts}
states:
  a: {}
  b: {}
  gate: {type: human_gate, comment_required: [reject]}
  done: {type: final}
  failed: {type: final}
transitions:
  - {from: a, event: go, target: b}
  - {from: b, event: again, guard: tries < 2, target: a, increment: tries}
  - {from: b, event: again, guard: tries >= 2, target: gate}
  - {from: b, event: ok, target: done}
  - {from: gate, event: approve, target: done}
  - {from: gate, event: reject, target: a}
"""


def test_brief_declaration_is_sound() -> None:
    assert check_machine(BRIEF, state_fields(BriefState)) == []
    assert BRIEF.initial == "requested"
    assert set(BRIEF.finals()) >= {"completed", "rejected"}
    assert BRIEF.states["researching"].timeout == 600
    assert BRIEF.states["agent_researching"].timeout == 600
    assert BRIEF.decisions("human_review") == ["approve", "revise", "abandon"]
    assert BRIEF.decisions("human_input_needed") == ["add_sources", "proceed", "cancel"]
    assert BRIEF.decisions("research_timeout") == ["retry", "proceed", "cancel"]


# Every declared transition of the brief, resolved through the same logic the compiled graph
# uses, with the guard values that select it.
BRIEF_ROUTES = [
    ("requested", "validated", {}, "researching"),
    ("requested", "validated", {"research_mode": "locked"}, "researching"),
    ("requested", "validated", {"research_mode": "agent"}, "agent_researching"),
    ("requested", "invalid", {}, "rejected"),
    ("researching", "batch_gathered", {}, "researching"),
    ("researching", "sources_gathered", {}, "outlining"),
    ("researching", "insufficient_sources", {}, "human_input_needed"),
    ("researching", "timeout", {}, "research_timeout"),
    ("agent_researching", "model_turn", {}, "agent_researching"),
    ("agent_researching", "tool_called", {}, "agent_researching"),
    ("agent_researching", "sources_gathered", {}, "outlining"),
    ("agent_researching", "insufficient_sources", {}, "human_input_needed"),
    ("agent_researching", "timeout", {}, "research_timeout"),
    ("agent_researching", "budget_exhausted", {}, "human_review"),
    ("agent_researching", "step_failed", {}, "failed"),
    ("outlining", "outline_complete", {}, "drafting"),
    ("outlining", "needs_more_research", {"research_rounds": 0}, "researching"),
    (
        "outlining",
        "needs_more_research",
        {"research_rounds": 0, "research_mode": "agent"},
        "agent_researching",
    ),
    (
        "outlining",
        "needs_more_research",
        {"research_rounds": 1, "research_mode": "agent"},
        "human_input_needed",
    ),
    ("outlining", "needs_more_research", {"research_rounds": 1}, "human_input_needed"),
    ("outlining", "budget_exhausted", {}, "human_review"),
    ("outlining", "step_failed", {}, "human_review"),
    ("outlining", "timeout", {}, "human_review"),
    ("drafting", "section_written", {}, "drafting"),
    ("drafting", "draft_complete", {}, "verifying"),
    ("verifying", "passed", {}, "completed"),
    ("drafting", "budget_exhausted", {}, "human_review"),
    ("drafting", "step_failed", {}, "human_review"),
    ("researching", "step_failed", {}, "failed"),
    ("verifying", "citations_failed", {"revision_count": 0}, "drafting"),
    ("verifying", "citations_failed", {"revision_count": 2}, "drafting"),
    ("verifying", "citations_failed", {"revision_count": 3}, "human_review"),
    ("verifying", "citations_failed", {"revision_count": 4}, "human_review"),
    ("human_input_needed", "add_sources", {}, "researching"),
    ("human_input_needed", "add_sources", {"research_mode": "agent"}, "agent_researching"),
    ("human_input_needed", "proceed", {}, "outlining"),
    ("human_input_needed", "cancel", {}, "cancelled"),
    ("research_timeout", "retry", {}, "researching"),
    ("research_timeout", "retry", {"research_mode": "agent"}, "agent_researching"),
    ("research_timeout", "proceed", {}, "outlining"),
    ("research_timeout", "cancel", {}, "cancelled"),
    ("human_review", "approve", {"draft": {"id": "draft-1", "version": 1}}, "completed"),
    # revise redrafts from the existing outline; only a thread whose outlining failed re-outlines
    ("human_review", "revise", {"outline": {"id": "outline-1", "version": 1}}, "drafting"),
    ("human_review", "revise", {"draft": {"id": "draft-1", "version": 1}}, "drafting"),
    ("human_review", "revise", {}, "outlining"),
    ("human_review", "abandon", {}, "abandoned"),
]


@pytest.mark.parametrize(("source", "event", "values", "target"), BRIEF_ROUTES)
def test_brief_routes(source: str, event: str, values: dict, target: str) -> None:
    transition = BRIEF.resolve(source, event, values)
    assert transition is not None
    assert transition.target == target


def test_human_review_cannot_approve_a_missing_draft() -> None:
    assert BRIEF.resolve("human_review", "approve", {}) is None


def test_every_brief_transition_is_routed_above() -> None:
    routed = {(s, e, t) for s, e, _, t in BRIEF_ROUTES}
    declared = {(t.source, t.event, t.target) for t in BRIEF.transitions}
    assert declared == routed


def test_unknown_event_has_no_transition() -> None:
    assert BRIEF.resolve("verifying", "sources_gathered", {}) is None


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        ("revision_count < 3", {"revision_count": 2}, True),
        ("revision_count < 3", {"revision_count": 3}, False),
        ("revision_count < 3", {}, True),
        ("a >= 1 and not b", {"a": 1, "b": False}, True),
        ("a >= 1 and not b", {"a": 1, "b": True}, False),
        ("x in ('p', 'q')", {"x": "q"}, True),
        ("1 < n <= 3", {"n": 3}, True),
    ],
)
def test_guards(expr: str, values: dict, expected: bool) -> None:
    assert eval_guard(expr, values) is expected


@pytest.mark.parametrize("expr", ["__import__('os')", "a.b < 1", "f(1)", "a +", "x[0] > 1"])
def test_guards_refuse_anything_but_comparisons(expr: str) -> None:
    with pytest.raises(ValueError, match="guard"):
        guard_names(expr)


def _problems(text: str, fields: set[str] | None = None) -> list[str]:
    return check_machine(load_machine(text), fields)


def test_good_machine_has_no_problems() -> None:
    assert _problems(GOOD, {"status"}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("target: b}", "target: nowhere}"), "unknown target 'nowhere'"),
        (("  b: {}\n", "  b: {}\n  island: {}\n"), "'island' is unreachable"),
        (("  b: {}\n", "  b: {}\n  stuck: {}\n"), "'stuck' is a dead end"),
        (("guard: tries < 2", "guard: colour < 2"), "reads unknown field 'colour'"),
        (("increment: tries", "increment: nope"), "undeclared counter 'nope'"),
        (("initial: a", "initial: zz"), "initial state 'zz' is not declared"),
        (("error_state: failed", "error_state: b"), "error_state 'b' must be type: final"),
        (("comment_required: [reject]", "comment_required: [maybe]"), "unknown decision 'maybe'"),
        (("guard: tries < 2", "guard: tries <"), "not a valid expression"),
        (
            (
                "  - {from: b, event: ok, target: done}\n",
                "  - {from: b, event: ok, target: done}\n  - {from: b, event: ok, target: a}\n",
            ),
            "can never be taken",
        ),
        (
            (
                "  - {from: gate, event: approve, target: done}\n",
                "  - {from: gate, event: approve, target: done}\n"
                "  - {from: done, event: x, target: a}\n",
            ),
            "final state 'done' has an outgoing transition",
        ),
    ],
)
def test_static_checks_catch_broken_declarations(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    problems = _problems(GOOD.replace(old, new, 1), {"status"})
    assert any(expected in p for p in problems), problems


def test_static_check_rejects_unbounded_loop() -> None:
    text = GOOD.replace("guard: tries < 2, target: a", "target: a").replace(
        "  - {from: b, event: again, guard: tries >= 2, target: gate}\n",
        "  - {from: b, event: stop, target: gate}\n",
    )
    problems = _problems(text)
    assert any("loop a -> b -> a has no counter guard" in p for p in problems), problems


def test_a_gate_breaks_a_loop() -> None:
    assert not [p for p in _problems(GOOD) if "loop" in p]


def test_compile_refuses_unbound_steps_and_bad_machines() -> None:
    with pytest.raises(MachineError, match="step state 'b' has no node function bound"):
        compile_machine(load_machine(GOOD), BriefState, {"a": lambda s, r: {}})
    broken = load_machine(GOOD.replace("target: b}", "target: nowhere}"))
    with pytest.raises(MachineError, match="unknown target"):
        compile_machine(broken, BriefState, {"a": lambda s, r: {}, "b": lambda s, r: {}})


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"<machine>:4: invalid YAML: .*started on line 3\)"):
        load_machine("name: x\nstates:\n  a: [unclosed\n  b: {}\n")


def test_missing_sections_are_reported_together() -> None:
    with pytest.raises(MachineError) as info:
        load_machine("name: x\nstates: {}\n")
    text = str(info.value)
    assert "'states' must be a non-empty mapping" in text
    assert "'transitions' must be a list" in text
    assert "'initial' state is not declared" in text


def test_durations() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("48h") == 172800
    assert parse_duration(30) == 30
    for bad in ("ten minutes", "0s", -1, True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_decision_problem() -> None:
    gate = {
        "gate": "human_review",
        "decisions": ["approve", "revise", "abandon"],
        "comment_required": ["revise"],
        "requires": {},
    }
    assert decision_problem(gate, {"decision": "approve"}) is None
    assert "does not allow decision 'maybe'" in decision_problem(gate, {"decision": "maybe"})
    assert "requires a comment" in decision_problem(gate, {"decision": "revise", "comment": " "})
    assert decision_problem(gate, {"decision": "revise", "comment": "fix 3"}) is None
    assert "mapping" in decision_problem(gate, "approve")


def test_mermaid_shows_events_guards_gates_and_current_state() -> None:
    text = to_mermaid(BRIEF, highlight="drafting")
    assert text.startswith("stateDiagram-v2")
    assert "verifying --> human_review: citations_failed [revision_count >= 3]" in text
    assert "[*] --> requested" in text
    assert "class drafting current" in text
    assert "class human_input_needed,research_timeout,human_review gate" in text


def test_png_is_drawn_offline(tmp_path) -> None:
    path = write_png(BRIEF, tmp_path / "brief.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
