"""A workflow's state machine as data: states, events, guards and targets, loaded from YAML.

The declaration is the single source of truth: the compiler turns it into a LangGraph
`StateGraph`, `check.py` validates it statically, and `diagram.py` draws it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lockstep.errors import ConfigError, MachineError

__all__ = ["Machine", "StateDecl", "Transition", "load_machine", "parse_duration"]

StateType = Literal["step", "human_gate", "final"]
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
class StateDecl:
    """One declared state. Gates list their decisions through their outgoing transitions."""

    name: str
    type: StateType = "step"
    timeout: float | None = None
    description: str = ""
    comment_required: tuple[str, ...] = ()
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    branches: tuple[str, ...] = ()
    """Parallel branches a step runs before its own function merges their results."""
    line: int | None = None


@dataclass(frozen=True)
class Transition:
    """`source --event [guard]--> target`, incrementing the named counters when taken."""

    source: str
    event: str
    target: str
    guard: str | None = None
    increment: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Machine:
    """A whole declaration; `resolve` picks the transition an event takes."""

    name: str
    initial: str
    error_state: str
    states: Mapping[str, StateDecl]
    transitions: tuple[Transition, ...]
    counters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    path: str | None = None

    def outgoing(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if t.source == state]

    def decisions(self, gate: str) -> list[str]:
        """The decisions a human gate allows: its outgoing events, in declaration order."""
        return list(dict.fromkeys(t.event for t in self.outgoing(gate)))

    def events(self, state: str) -> list[str]:
        return list(dict.fromkeys(t.event for t in self.outgoing(state)))

    def finals(self) -> list[str]:
        return [s.name for s in self.states.values() if s.type == "final"]

    def gates(self) -> list[str]:
        return [s.name for s in self.states.values() if s.type == "human_gate"]

    def resolve(self, state: str, event: str, values: Mapping[str, Any]) -> Transition | None:
        """First transition from `state` on `event` whose guard holds over `values`."""
        from lockstep.machine.guards import eval_guard

        for t in self.outgoing(state):
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


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML, turning syntax errors into a ConfigError that names file and line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        started = ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            started = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}{started}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def load_machine(source: str | Path | Mapping[str, Any], *, name: str | None = None) -> Machine:
    """Load a declaration from a YAML file, YAML text or an already-parsed mapping."""
    path: str | None = None
    if isinstance(source, Mapping):
        data: Any = source
    else:
        text = str(source)
        if isinstance(source, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
            path = str(source)
            try:
                text = Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read machine file {path}: {exc.strerror}") from None
        data = load_yaml(text, path or "<machine>")
    where = path or "<machine>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a machine declaration must be a mapping")
    return _build(data, where, path, name)


def _build(data: Mapping[str, Any], where: str, path: str | None, name: str | None) -> Machine:
    machine_name = str(data.get("name") or name or "machine")
    problems: list[str] = []

    def at(node: Any) -> str:
        line = node.get("__line__") if isinstance(node, Mapping) else None
        return f"{where}:{line}" if line else where

    states: dict[str, StateDecl] = {}
    raw_states = data.get("states")
    if not isinstance(raw_states, Mapping) or not [k for k in raw_states if k != "__line__"]:
        problems.append(f"{where}: 'states' must be a non-empty mapping")
        raw_states = {}
    for sname, body in raw_states.items():
        if sname == "__line__":
            continue
        body = body or {}
        if not isinstance(body, Mapping):
            problems.append(f"{at(raw_states)}: state {sname!r} must be a mapping")
            continue
        stype = body.get("type", "step")
        if stype not in ("step", "human_gate", "final"):
            problems.append(f"{at(body)}: state {sname!r} has unknown type {stype!r}")
            stype = "step"
        timeout = None
        if body.get("timeout") is not None:
            try:
                timeout = parse_duration(body["timeout"])
            except ValueError as exc:
                problems.append(f"{at(body)}: state {sname!r}: {exc}")
        requires = {
            str(k): tuple(v if isinstance(v, list) else [v])
            for k, v in (body.get("requires") or {}).items()
            if k != "__line__"
        }
        states[str(sname)] = StateDecl(
            name=str(sname),
            type=stype,
            timeout=timeout,
            description=str(body.get("description", "")),
            comment_required=tuple(body.get("comment_required") or ()),
            requires=requires,
            branches=tuple(str(b) for b in (body.get("branches") or ())),
            line=body.get("__line__"),
        )

    transitions: list[Transition] = []
    raw_transitions = data.get("transitions")
    if not isinstance(raw_transitions, list):
        problems.append(f"{where}: 'transitions' must be a list")
        raw_transitions = []
    for item in raw_transitions:
        if not isinstance(item, Mapping):
            problems.append(f"{where}: each transition must be a mapping, got {item!r}")
            continue
        missing = [k for k in ("from", "event", "target") if not item.get(k)]
        if missing:
            problems.append(f"{at(item)}: transition is missing {', '.join(missing)}")
            continue
        inc = item.get("increment") or ()
        transitions.append(
            Transition(
                source=str(item["from"]),
                event=str(item["event"]),
                target=str(item["target"]),
                guard=str(item["guard"]) if item.get("guard") is not None else None,
                increment=tuple([inc] if isinstance(inc, str) else inc),
                line=item.get("__line__"),
            )
        )
    counters = {
        str(k): str(v or "") for k, v in (data.get("counters") or {}).items() if k != "__line__"
    }
    initial = str(data.get("initial") or "")
    if not initial:
        problems.append(f"{where}: 'initial' state is not declared")
    if problems:
        raise MachineError(machine_name, problems)
    return Machine(
        name=machine_name,
        initial=initial,
        error_state=str(data.get("error_state") or "failed"),
        states=states,
        transitions=tuple(transitions),
        counters=counters,
        description=str(data.get("description", "")),
        path=path,
    )
