"""A workflow's state machine as data: states, events, guards and targets, loaded from YAML.

The declaration is the single source of truth: the compiler turns it into a LangGraph
`StateGraph`, `check.py` validates it statically, and `diagram.py` draws it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from lockstep.errors import ConfigError

__all__ = [
    "ActionCall",
    "CheckpointPolicy",
    "Machine",
    "StateDecl",
    "Transition",
    "load_yaml",
    "parse_duration",
]

StateType = Literal["step", "human_gate", "final", "compound"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as `90s`, `10m`, `48h`, `7d`."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 48h, 7d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


@dataclass(frozen=True)
class ActionCall:
    """One named entry/exit action with its arguments (`log`, `{notify: {event: x}}`)."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        if not self.args:
            return self.name
        inner = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.name}({inner})"


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a state's steps are written to a checkpoint (see `lockstep.machine.policy`).

    `checkpoint=False` folds the state's work into the next checkpoint; `every` progress steps
    or `seconds` of them per checkpoint; `at_boundaries` the progress events that checkpoint
    (others are folded)."""

    checkpoint: bool = True
    every: int | None = None
    seconds: float | None = None
    at_boundaries: tuple[str, ...] = ()
    frequency: str | None = None
    """`checkpoint_frequency` as written (`every_5_sources`, `per_section`, ...)."""

    @property
    def default(self) -> bool:
        return self == CheckpointPolicy()


@dataclass(frozen=True)
class StateDecl:
    """One declared state. Gates list their decisions through their outgoing transitions.

    A `compound` state holds substates (`children`, entered at `initial`); its transitions
    apply from every state inside it. Substates are named by dotted paths
    (`researching.extracting`).
    """

    name: str
    type: StateType = "step"
    timeout: float | None = None
    description: str = ""
    comment_required: tuple[str, ...] = ()
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    branches: tuple[str, ...] = ()
    """Parallel branches a step runs before its own function merges their results."""
    line: int | None = field(default=None, compare=False)
    parent: str | None = None
    initial: str | None = None
    children: tuple[str, ...] = field(default=(), compare=False)
    """Derived from the substates' `parent` (compared through it, in any order)."""
    on_enter: tuple[ActionCall, ...] = ()
    on_exit: tuple[ActionCall, ...] = ()
    policy: CheckpointPolicy = CheckpointPolicy()
    session_timeout: float | None = None
    """`timeouts.session` override while the thread is in this state (gates waiting long)."""

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Transition:
    """`source --event [guard]--> target`, incrementing the named counters when taken."""

    source: str
    event: str
    target: str
    guard: str | None = None
    increment: tuple[str, ...] = ()
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class Machine:
    """A whole declaration; `resolve` picks the transition an event takes.

    Transitions are kept in state-declaration order (stable within a state). Two machines are
    equal when they declare the same states, and the same transitions from each state in the
    same order (the order that picks between guards): the nested and flat forms of one
    machine compare equal, whatever order their states or sources are written in."""

    name: str
    initial: str
    error_state: str
    states: Mapping[str, StateDecl]
    transitions: tuple[Transition, ...]
    counters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    path: str | None = field(default=None, compare=False)
    session_timeout: float | None = None
    """`timeouts.session`: wall-clock bound of a run, waiting for people included."""

    def _key(self) -> tuple[Any, ...]:
        by_source: dict[str, list[Transition]] = {}
        for t in self.transitions:
            by_source.setdefault(t.source, []).append(t)
        return (
            self.name,
            self.initial,
            self.error_state,
            dict(self.states),
            by_source,
            dict(self.counters),
            self.description,
            self.session_timeout,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Machine) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def outgoing(self, state: str) -> list[Transition]:
        """Transitions declared on `state` itself (not inherited from its parents)."""
        return [t for t in self.transitions if t.source == state]

    def ancestors(self, state: str) -> list[str]:
        """The compound states around `state`, innermost first."""
        out = []
        decl = self.states.get(state)
        while decl is not None and decl.parent:
            out.append(decl.parent)
            decl = self.states.get(decl.parent)
        return out

    def applicable(self, state: str) -> list[Transition]:
        """Transitions that can leave `state`: its own, then its parents' (innermost wins)."""
        return [t for s in (state, *self.ancestors(state)) for t in self.outgoing(s)]

    def enter(self, state: str) -> str:
        """The leaf state entering `state` lands in (a compound's `initial`, recursively)."""
        seen = set()
        decl = self.states.get(state)
        while decl is not None and decl.type == "compound" and decl.initial and state not in seen:
            seen.add(state)
            state = decl.initial
            decl = self.states.get(state)
        return state

    def leaves(self) -> list[StateDecl]:
        return [s for s in self.states.values() if s.type != "compound"]

    def decisions(self, gate: str) -> list[str]:
        """The decisions a human gate allows: its outgoing events, in declaration order."""
        return list(dict.fromkeys(t.event for t in self.applicable(gate)))

    def events(self, state: str) -> list[str]:
        return list(dict.fromkeys(t.event for t in self.applicable(state)))

    def finals(self) -> list[str]:
        return [s.name for s in self.states.values() if s.type == "final"]

    def gates(self) -> list[str]:
        return [s.name for s in self.states.values() if s.type == "human_gate"]

    def session_limit(self, state: str) -> float | None:
        """`timeouts.session` while in `state`: its own override, a parent's, else the
        workflow's."""
        for name in (state, *self.ancestors(state)):
            decl = self.states.get(name)
            if decl is not None and decl.session_timeout is not None:
                return decl.session_timeout
        return self.session_timeout

    def resolve(self, state: str, event: str, values: Mapping[str, Any]) -> Transition | None:
        """First transition from `state` (or a state around it) on `event` whose guard holds."""
        from lockstep.machine.guards import eval_guard

        for t in self.applicable(state):
            if t.event == event and (t.guard is None or eval_guard(t.guard, values)):
                return t
        return None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records each mapping's 1-based line under the key `__line__`."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)  # type: ignore[assignment]
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str, loader: type[yaml.SafeLoader] = _LineLoader) -> Any:
    """Parse YAML with `loader` (a SafeLoader subclass: lines recorded), turning syntax errors
    into a ConfigError that names file and line."""
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        started = ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            started = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}{started}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
