"""Static checks on a machine declaration, run before it is compiled.

Catches what would otherwise surface mid-run: unknown targets, unreachable states, non-final
dead ends, guards reading unknown fields, gates without decisions, ambiguous transitions and
automatic loops that no counter bounds.
"""

from __future__ import annotations

from collections.abc import Collection

from lockstep.machine.guards import guard_names
from lockstep.machine.spec import Machine

__all__ = ["check_machine"]


def check_machine(machine: Machine, fields: Collection[str] | None = None) -> list[str]:
    """Every problem found, one line each; an empty list means the machine is sound.

    `fields` are the state schema's keys: guards may read them or the declared counters.
    """
    problems: list[str] = []
    where = machine.path or f"machine {machine.name!r}"
    states = machine.states

    def loc(line: int | None) -> str:
        return f"{where}:{line}" if line and machine.path else where

    if machine.initial not in states:
        problems.append(f"{where}: initial state {machine.initial!r} is not declared")
    if machine.error_state not in states:
        problems.append(f"{where}: error_state {machine.error_state!r} is not declared")
    elif states[machine.error_state].type != "final":
        problems.append(f"{where}: error_state {machine.error_state!r} must be type: final")

    known = set(machine.counters) | set(fields or ())
    seen_unguarded: set[tuple[str, str]] = set()
    for t in machine.transitions:
        if t.source not in states:
            problems.append(f"{loc(t.line)}: transition from unknown state {t.source!r}")
        elif states[t.source].type == "final":
            problems.append(f"{loc(t.line)}: final state {t.source!r} has an outgoing transition")
        if t.target not in states:
            problems.append(
                f"{loc(t.line)}: transition {t.source} --{t.event}--> unknown target {t.target!r}"
            )
        key = (t.source, t.event)
        if key in seen_unguarded:
            problems.append(
                f"{loc(t.line)}: transition {t.source} --{t.event}--> {t.target} can never be "
                "taken: an earlier unguarded transition on the same event wins"
            )
        if t.guard is None:
            seen_unguarded.add(key)
        else:
            try:
                names = guard_names(t.guard)
            except ValueError as exc:
                problems.append(f"{loc(t.line)}: {exc}")
                names = set()
            if fields is not None:
                for name in sorted(names - known):
                    problems.append(
                        f"{loc(t.line)}: guard {t.guard!r} reads unknown field {name!r}"
                    )
        for counter in t.increment:
            if counter not in machine.counters:
                problems.append(f"{loc(t.line)}: increments undeclared counter {counter!r}")

    for s in states.values():
        out = machine.outgoing(s.name)
        if s.type != "final" and not out:
            problems.append(f"{loc(s.line)}: non-final state {s.name!r} is a dead end")
        if s.type == "human_gate":
            decisions = machine.decisions(s.name)
            for d in [*s.comment_required, *s.requires]:
                if d not in decisions:
                    problems.append(f"{loc(s.line)}: gate {s.name!r} names unknown decision {d!r}")
        elif s.comment_required or s.requires:
            problems.append(f"{loc(s.line)}: only a human_gate may declare decision rules")
        if s.branches and s.type != "step":
            problems.append(f"{loc(s.line)}: only a step may declare parallel branches")

    reachable = _reachable(machine)
    for name, decl in states.items():
        if name not in reachable:
            problems.append(
                f"{loc(decl.line)}: state {name!r} is unreachable from {machine.initial!r}"
            )

    problems.extend(f"{where}: {p}" for p in _unbounded_loops(machine))
    return problems


def _reachable(machine: Machine) -> set[str]:
    seen = {machine.initial, machine.error_state}
    frontier = [machine.initial]
    while frontier:
        state = frontier.pop()
        for t in machine.outgoing(state):
            if t.target not in seen:
                seen.add(t.target)
                frontier.append(t.target)
    return seen


def _unbounded_loops(machine: Machine) -> list[str]:
    """Automatic cycles (no human gate on them) that no counter guard bounds.

    A transition is bounding when its guard reads a counter that some transition increments.
    Self-loops are progress steps (a batch, a section) and are bounded by their own work.
    """
    incremented = {c for t in machine.transitions for c in t.increment}
    automatic = {s.name for s in machine.states.values() if s.type == "step"}
    edges: dict[str, set[str]] = {s: set() for s in automatic}
    for t in machine.transitions:
        if t.source == t.target or t.source not in automatic or t.target not in automatic:
            continue
        bounded = t.guard is not None and bool(_safe_names(t.guard) & incremented)
        if not bounded:
            edges[t.source].add(t.target)
    problems = []
    for cycle in _cycles(edges):
        path = " -> ".join([*cycle, cycle[0]])
        problems.append(f"loop {path} has no counter guard and could cycle forever")
    return problems


def _safe_names(guard: str) -> set[str]:
    try:
        return guard_names(guard)
    except ValueError:
        return set()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found
