"""Static checks on a machine declaration, run before it is compiled.

Catches what would otherwise surface mid-run: unknown targets, unreachable states, non-final
dead ends, guards reading unknown fields, gates without decisions, ambiguous transitions,
automatic loops that no counter bounds, unknown entry/exit actions and checkpoint policies that
cannot apply. Hierarchy is understood: a leaf state inherits its parents' transitions, and
entering a compound state enters its initial leaf.
"""

from __future__ import annotations

from collections.abc import Collection

from lockstep.machine.actions import action_names
from lockstep.machine.guards import guard_names
from lockstep.machine.spec import Machine, StateDecl

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
        problems += [f"{loc(s.line)}: {p}" for p in _state_problems(machine, s)]

    reachable = _reachable(machine)
    for name, decl in states.items():
        if name not in reachable and not (
            decl.type == "compound" and any(c in reachable for c in _descendants(machine, name))
        ):
            problems.append(
                f"{loc(decl.line)}: state {name!r} is unreachable from {machine.initial!r}"
            )

    problems.extend(f"{where}: {p}" for p in _unbounded_loops(machine))
    return problems


def _state_problems(machine: Machine, s: StateDecl) -> list[str]:
    """What is wrong with one state: dead ends, gate rules, policies, actions."""
    problems = []
    out = machine.applicable(s.name)
    if s.type not in ("final", "compound") and not out:
        problems.append(f"non-final state {s.name!r} is a dead end")
    if s.type == "human_gate":
        decisions = machine.decisions(s.name)
        for d in [*s.comment_required, *s.requires]:
            if d not in decisions:
                problems.append(f"gate {s.name!r} names unknown decision {d!r}")
    elif s.comment_required or s.requires:
        problems.append(f"only a human_gate may declare decision rules ({s.name!r})")
    if s.branches and s.type != "step":
        problems.append(f"only a step may declare parallel branches ({s.name!r})")
    policy = s.policy
    if not policy.default and s.type != "step":
        problems.append(
            f"state {s.name!r}: only a step has a checkpoint policy (a gate's interrupt is "
            "always a checkpoint; put it on the substates of a compound)"
        )
    elif not policy.default:
        progress = {t.event for t in machine.outgoing(s.name) if t.target == s.name}
        if s.branches and not policy.checkpoint:
            problems.append(f"state {s.name!r}: parallel branches need their own checkpoint")
        if (policy.every or policy.seconds or policy.at_boundaries) and not progress:
            problems.append(
                f"state {s.name!r}: checkpoint_frequency/at_boundaries count progress steps, "
                "but it has no self-transition"
            )
        for event in policy.at_boundaries:
            if event not in progress:
                problems.append(
                    f"state {s.name!r}: at_boundaries names {event!r}, not one of its "
                    f"progress events ({', '.join(sorted(progress)) or 'none'})"
                )
        if s.name == machine.enter(machine.initial) and not policy.checkpoint:
            problems.append(
                f"state {s.name!r} is where a run starts: it has no step before it to fold "
                "into, so `checkpoint: false` cannot apply"
            )
    known = set(action_names())
    for phase, calls in (("on_enter", s.on_enter), ("on_exit", s.on_exit)):
        for call in calls:
            if call.name not in known:
                problems.append(
                    f"state {s.name!r}: {phase} names unknown action {call.name!r} "
                    f"(registered: {', '.join(sorted(known))})"
                )
    if s.type == "final" and s.on_exit:
        problems.append(f"final state {s.name!r} is never exited: on_exit cannot run")
    return problems


def _descendants(machine: Machine, name: str) -> list[str]:
    out = []
    for child in machine.states[name].children:
        out += [child, *_descendants(machine, child)]
    return out


def _reachable(machine: Machine) -> set[str]:
    """Every state a run can be in (leaves, and the compounds around them)."""

    def landing(state: str) -> list[str]:
        leaf = machine.enter(state)
        return [leaf, *machine.ancestors(leaf)] if leaf in machine.states else [leaf]

    seen = {*landing(machine.initial), *landing(machine.error_state)}
    frontier = [machine.enter(machine.initial)]
    while frontier:
        state = frontier.pop()
        for t in machine.applicable(state):
            leaf = machine.enter(t.target)
            if leaf not in seen:
                frontier.append(leaf)
            seen.update(landing(t.target))
    return seen


def _unbounded_loops(machine: Machine) -> list[str]:
    """Automatic cycles (no human gate on them) that no counter guard bounds.

    A transition is bounding when its guard reads a counter that some transition increments.
    Self-loops are progress steps (a batch, a section) and are bounded by their own work.
    """
    incremented = {c for t in machine.transitions for c in t.increment}
    automatic = {s.name for s in machine.states.values() if s.type == "step"}
    edges: dict[str, set[str]] = {s: set() for s in automatic}
    for source in automatic:
        for t in machine.applicable(source):
            target = machine.enter(t.target)
            if source == target or target not in automatic:
                continue
            bounded = t.guard is not None and bool(_safe_names(t.guard) & incremented)
            if not bounded:
                edges[source].add(target)
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
