"""Read a machine declaration strictly, in either of its two forms.

- **Nested** (the design chapter's form): each state holds its own `transitions:` list
  (`event`, `target`, `guard`, `increment`), `on_enter`/`on_exit`, `checkpoint`,
  `checkpoint_frequency`, `at_boundaries`, `timeout`, `timeouts: {session}`, and substates
  (`initial` + `states`) for hierarchy.
- **Flat**: one top-level `transitions:` list whose items name their source with `from:`.

Both build the same `Machine`. Every unknown key is a problem naming file:line and the closest
known key; all problems are reported together in one `MachineError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lockstep.errors import ConfigError, MachineError
from lockstep.machine.policy import parse_frequency
from lockstep.machine.spec import (
    ActionCall,
    CheckpointPolicy,
    Machine,
    StateDecl,
    Transition,
    load_yaml,
    parse_duration,
)

__all__ = [
    "MACHINE_KEYS",
    "STATE_KEYS",
    "TRANSITION_KEYS",
    "load_machine",
    "machine_problems",
    "read_machine",
]

MACHINE_KEYS = (
    "name",
    "description",
    "initial",
    "error_state",
    "counters",
    "timeouts",
    "states",
    "transitions",
)
STATE_KEYS = (
    "type",
    "description",
    "timeout",
    "timeouts",
    "transitions",
    "on_enter",
    "on_exit",
    "checkpoint",
    "checkpoint_frequency",
    "at_boundaries",
    "initial",
    "states",
    "comment_required",
    "requires",
    "branches",
)
TRANSITION_KEYS = ("event", "target", "guard", "increment")
TIMEOUT_KEYS = ("session",)
_META = ("__line__", "__keys__")


class _KeyLoader(yaml.SafeLoader):
    """SafeLoader recording each mapping's line (`__line__`) and each key's (`__keys__`)."""


def _construct(loader: _KeyLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)  # type: ignore[assignment]
    keys: dict[str, int] = {}
    dupes: list[tuple[str, int]] = []
    for key_node, _ in node.value:
        name = str(key_node.value)
        if name in keys:
            dupes.append((name, key_node.start_mark.line + 1))
        keys[name] = key_node.start_mark.line + 1
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__keys__"] = keys
    if dupes:
        mapping["__dupes__"] = dupes
    return mapping


_KeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct)


def _parse(text: str, source: str) -> Any:
    return load_yaml(text, source, loader=_KeyLoader)


def _items(node: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in node.items() if k not in (*_META, "__dupes__")]


def read_machine(source: str | Path | Mapping[str, Any], *, name: str | None = None) -> Machine:
    """Load a declaration (nested or flat form) from a YAML file, YAML text or a mapping;
    every problem found is raised together in one `MachineError`."""
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
        data = _parse(text, path or "<machine>")
    where = path or "<machine>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a machine declaration must be a mapping")
    reader = _Reader(where, path)
    machine = reader.machine(data, name)
    if reader.problems:
        raise MachineError(machine.name, reader.problems)
    return machine


def machine_problems(source: str | Path) -> tuple[Machine | None, list[str]]:
    """The declaration in `source` as far as it could be read, and the loader's problems
    (for `lockstep check`, which then runs the static checks on it too)."""
    try:
        return load_machine(source), []
    except MachineError as exc:
        problems = list(exc.problems)
    path = str(source)
    data = _parse(Path(path).read_text(encoding="utf-8"), path)
    if not isinstance(data, Mapping):
        return None, problems
    return _Reader(path, path).machine(data, None), problems


class _Reader:
    """One pass over a parsed declaration, collecting every problem."""

    def __init__(self, where: str, path: str | None) -> None:
        self.where = where
        self.path = path
        self.problems: list[str] = []
        self.states: dict[str, StateDecl] = {}
        self.raw: list[tuple[str, Mapping[str, Any], bool]] = []
        """(declaring state or None for the flat list, the item, flat?)"""

    def at(self, node: Any, key: str | None = None) -> str:
        line = None
        if isinstance(node, Mapping):
            line = (node.get("__keys__") or {}).get(key) if key else None
            line = line or node.get("__line__")
        return f"{self.where}:{line}" if line else self.where

    def line(self, node: Any) -> int | None:
        return node.get("__line__") if isinstance(node, Mapping) else None

    def strict(self, node: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
        for key, line in node.get("__dupes__") or ():
            self.problems.append(f"{self.where}:{line}: duplicate key {key!r} in {what}")
        for key, _ in _items(node):
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            self.problems.append(f"{self.at(node, key)}: unknown key {key!r} in {what}{hint}")

    def machine(self, data: Mapping[str, Any], name: str | None) -> Machine:
        machine_name = str(data.get("name") or name or "machine")
        self.strict(data, MACHINE_KEYS, "the machine")
        raw_states = data.get("states")
        if not isinstance(raw_states, Mapping) or not _items(raw_states):
            self.problems.append(f"{self.where}: 'states' must be a non-empty mapping")
        else:
            self.walk(raw_states, None)
        flat = data.get("transitions")
        nested = any(not flat_ for _, _, flat_ in self.raw)
        if flat is None and not nested:
            self.problems.append(
                f"{self.where}: 'transitions' must be a list (top level, with `from:`) or "
                "declared under each state"
            )
        elif flat is not None and not isinstance(flat, list):
            self.problems.append(f"{self.at(data, 'transitions')}: 'transitions' must be a list")
        else:
            self.raw += [("", item, True) for item in flat or ()]
        transitions = self.transitions()
        counters = data.get("counters") or {}
        if not isinstance(counters, Mapping):
            self.problems.append(f"{self.at(data, 'counters')}: 'counters' must be a mapping")
            counters = {}
        session = self.timeouts(data, "the machine")
        initial = str(data.get("initial") or "")
        if not initial:
            self.problems.append(f"{self.where}: 'initial' state is not declared")
        return Machine(
            name=machine_name,
            initial=initial,
            error_state=str(data.get("error_state") or "failed"),
            states=self.states,
            transitions=transitions,
            counters={k: str(v or "") for k, v in _items(counters)},
            description=str(data.get("description", "")),
            path=self.path,
            session_timeout=session,
        )

    def timeouts(self, node: Mapping[str, Any], what: str) -> float | None:
        raw = node.get("timeouts")
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.problems.append(f"{self.at(node, 'timeouts')}: 'timeouts' must be a mapping")
            return None
        self.strict(raw, TIMEOUT_KEYS, f"the timeouts of {what}")
        return self.duration(raw, "session", what)

    def duration(self, node: Mapping[str, Any], key: str, what: str) -> float | None:
        if node.get(key) is None:
            return None
        try:
            return parse_duration(node[key])
        except ValueError as exc:
            self.problems.append(f"{self.at(node, key)}: {what}: {key}: {exc}")
            return None

    def walk(self, raw_states: Mapping[str, Any], parent: str | None) -> list[str]:
        """Read `raw_states` (and their substates, depth first); returns their full names."""
        names = []
        for short, body in _items(raw_states):
            full = f"{parent}.{short}" if parent else short
            what = f"state {full!r}"
            if "." in short:
                self.problems.append(f"{self.at(raw_states, short)}: {what}: no dots in names")
            body = body if body is not None else {}
            if not isinstance(body, Mapping):
                self.problems.append(f"{self.at(raw_states, short)}: {what} must be a mapping")
                continue
            names.append(full)
            self.state(full, body, parent, what)
        return names

    def state(self, full: str, body: Mapping[str, Any], parent: str | None, what: str) -> None:
        self.strict(body, STATE_KEYS, what)
        stype = body.get("type", "step")
        if stype not in ("step", "human_gate", "final", "compound"):
            self.problems.append(
                f"{self.at(body, 'type')}: {what} has unknown type {stype!r}"
                " (step, human_gate, final; substates make a compound)"
            )
            stype = "step"
        self.states[full] = StateDecl(name=full)  # placeholder keeps declaration order
        children: tuple[str, ...] = ()
        initial = None
        if body.get("states") is not None:
            if body.get("type") not in (None, "compound"):
                self.problems.append(f"{self.at(body, 'type')}: {what} has substates: no type")
            if not isinstance(body["states"], Mapping) or not _items(body["states"]):
                self.problems.append(f"{self.at(body, 'states')}: {what}: 'states' is empty")
            else:
                children = tuple(self.walk(body["states"], full))
            stype = "compound"
            short_initial = body.get("initial")
            if not short_initial:
                self.problems.append(f"{self.at(body)}: compound {what} declares no 'initial'")
            else:
                initial = f"{full}.{short_initial}"
                if initial not in children:
                    self.problems.append(
                        f"{self.at(body, 'initial')}: {what}: initial {short_initial!r} is not "
                        "one of its substates"
                    )
        elif body.get("initial") is not None:
            self.problems.append(f"{self.at(body, 'initial')}: {what}: 'initial' needs 'states'")
        raw = body.get("transitions")
        if raw is not None:
            if not isinstance(raw, list):
                self.problems.append(f"{self.at(body, 'transitions')}: must be a list")
            else:
                self.raw += [(full, item, False) for item in raw]
        requires: dict[str, tuple[str, ...]] = {}
        if isinstance(body.get("requires"), Mapping):
            requires = {
                k: tuple(v if isinstance(v, list) else [v]) for k, v in _items(body["requires"])
            }
        self.states[full] = StateDecl(
            name=full,
            type=stype,
            timeout=self.duration(body, "timeout", what),
            description=str(body.get("description", "")),
            comment_required=self.names(body, "comment_required"),
            requires=requires,
            branches=self.names(body, "branches"),
            line=self.line(body),
            parent=parent,
            initial=initial,
            children=children,
            on_enter=self.actions(body, "on_enter", what),
            on_exit=self.actions(body, "on_exit", what),
            policy=self.policy(body, what),
            session_timeout=self.timeouts(body, what),
        )

    def names(self, node: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{self.at(node, key)}: {key!r} must be a list of names")
            return ()
        return tuple(value)

    def actions(self, node: Mapping[str, Any], key: str, what: str) -> tuple[ActionCall, ...]:
        value = node.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, str):
                out.append(ActionCall(item))
                continue
            pairs = _items(item) if isinstance(item, Mapping) else []
            args = pairs[0][1] if len(pairs) == 1 else None
            if len(pairs) != 1 or not isinstance(args, Mapping | None):
                self.problems.append(
                    f"{self.at(node, key)}: {what}: each {key} action is a name or "
                    f"{{name: {{arg: value}}}}, got {item!r}"
                )
                continue
            out.append(ActionCall(pairs[0][0], dict(_items(args or {}))))
        return tuple(out)

    def policy(self, node: Mapping[str, Any], what: str) -> CheckpointPolicy:
        checkpoint = node.get("checkpoint", True)
        if not isinstance(checkpoint, bool):
            self.problems.append(f"{self.at(node, 'checkpoint')}: {what}: checkpoint is true|false")
            checkpoint = True
        every = seconds = None
        frequency = node.get("checkpoint_frequency")
        if frequency is not None:
            try:
                every, seconds = parse_frequency(str(frequency))
            except ValueError as exc:
                self.problems.append(f"{self.at(node, 'checkpoint_frequency')}: {what}: {exc}")
        return CheckpointPolicy(
            checkpoint=checkpoint,
            every=every,
            seconds=seconds,
            at_boundaries=self.names(node, "at_boundaries"),
            frequency=str(frequency) if frequency is not None else None,
        )

    def resolve(self, name: str, scope: str | None) -> str:
        """A state name as written, relative to `scope` (the compound the transition is
        declared in): the nearest enclosing sibling first, then the top level, then as a
        full dotted path. Unknown names are kept for the static checks to report."""
        while scope:
            if f"{scope}.{name}" in self.states:
                return f"{scope}.{name}"
            scope = self.states[scope].parent if scope in self.states else None
        return name

    def transitions(self) -> tuple[Transition, ...]:
        out: list[Transition] = []
        for declared_on, item, flat in self.raw:
            if not isinstance(item, Mapping):
                self.problems.append(f"{self.where}: each transition must be a mapping: {item!r}")
                continue
            keys = ("from", *TRANSITION_KEYS) if flat else TRANSITION_KEYS
            where = "a transition" if flat else f"a transition of state {declared_on!r}"
            self.strict(item, keys, where)
            required = ("from", "event", "target") if flat else ("event", "target")
            missing = [k for k in required if not item.get(k)]
            if missing:
                self.problems.append(f"{self.at(item)}: transition is missing {', '.join(missing)}")
                continue
            source = self.resolve(str(item["from"]), None) if flat else declared_on
            scope = self.states[source].parent if source in self.states else None
            inc = item.get("increment") or ()
            out.append(
                Transition(
                    source=source,
                    event=str(item["event"]),
                    target=self.resolve(str(item["target"]), scope),
                    guard=str(item["guard"]) if item.get("guard") is not None else None,
                    increment=tuple([inc] if isinstance(inc, str) else inc),
                    line=self.line(item),
                )
            )
        order = {name: i for i, name in enumerate(self.states)}
        return tuple(sorted(out, key=lambda t: order.get(t.source, len(order))))


load_machine = read_machine
