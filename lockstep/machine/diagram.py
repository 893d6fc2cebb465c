"""Draw a machine declaration: Mermaid text, and a PNG or SVG through graphviz with no network.

Drawn from the declaration rather than the compiled graph so the picture shows events and
guards, which LangGraph's conditional edges do not carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import ConfigError
from lockstep.machine.spec import Machine, StateDecl

if TYPE_CHECKING:
    import pygraphviz

__all__ = ["to_mermaid", "to_svg", "write_png"]


def _label(event: str, guard: str | None) -> str:
    return f"{event} [{guard}]" if guard else event


def _id(name: str) -> str:
    """A Mermaid id for a state path (`researching.extracting` -> `researching__extracting`)."""
    return name.replace(".", "__")


def _actions(decl: StateDecl) -> list[str]:
    out = []
    if decl.on_enter:
        out.append("on_enter: " + ", ".join(a.label() for a in decl.on_enter))
    if decl.on_exit:
        out.append("on_exit: " + ", ".join(a.label() for a in decl.on_exit))
    return out


def to_mermaid(machine: Machine, *, highlight: str | None = None) -> str:
    """A Mermaid `stateDiagram-v2`; `highlight` marks one state (the thread's current one).
    Compound states are composite states; entry/exit actions are notes."""
    lines = ["stateDiagram-v2", f"    [*] --> {_id(machine.initial)}"]

    def declare(parent: str | None, indent: str) -> None:
        for s in machine.states.values():
            if s.parent != parent:
                continue
            if s.type == "compound":
                lines.append(f"{indent}state {_id(s.name)} {{")
                lines.append(f"{indent}    [*] --> {_id(s.initial or '')}")
                declare(s.name, indent + "    ")
                lines.append(f"{indent}}}")
            elif s.type == "human_gate":
                lines.append(f'{indent}state "{s.short} (human gate)" as {_id(s.name)}')
            elif s.parent:
                lines.append(f'{indent}state "{s.short}" as {_id(s.name)}')

    declare(None, "    ")
    for t in machine.transitions:
        label = _label(t.event, t.guard).replace(":", " ")
        lines.append(f"    {_id(t.source)} --> {_id(t.target)}: {label}")
    for name in machine.finals():
        lines.append(f"    {_id(name)} --> [*]")
    for s in machine.states.values():
        notes = _actions(s)
        if notes:
            lines += [f"    note right of {_id(s.name)}", *[f"        {n}" for n in notes]]
            lines.append("    end note")
    gates = machine.gates()
    if gates:
        lines.append("    classDef gate fill:#fff3bf,stroke:#e8590c")
        lines.append(f"    class {','.join(_id(g) for g in gates)} gate")
    if highlight and highlight in machine.states:
        lines.append("    classDef current fill:#d3f9d8,stroke:#2b8a3e,stroke-width:3px")
        lines.append(f"    class {_id(highlight)} current")
    return "\n".join(lines) + "\n"


def _graph(
    machine: Machine, highlight: str | None, path: Sequence[Mapping[str, str]]
) -> pygraphviz.AGraph:
    """The machine as a graphviz graph; the states and transitions on `path` (a thread's
    transition log, `{from, event, to}` entries) drawn in blue, `highlight` in green."""
    import pygraphviz

    visited = {e["from"] for e in path} | {e["to"] for e in path}
    taken = {(e["from"], e["event"], e["to"]) for e in path}
    graph = pygraphviz.AGraph(directed=True, strict=False, rankdir="LR", label=machine.name)
    graph.node_attr.update(fontname="Helvetica", fontsize="11", shape="box", style="rounded")
    graph.edge_attr.update(fontname="Helvetica", fontsize="9")
    graph.add_node("__start__", shape="point", width="0.15")
    graph.graph_attr.update(compound="true")
    clusters: dict[str | None, Any] = {None: graph}
    for s in machine.states.values():
        parent = clusters.get(s.parent, graph)
        if s.type == "compound":
            label = "\n".join([s.name, *_actions(s)])
            clusters[s.name] = parent.add_subgraph(
                name=f"cluster_{_id(s.name)}", label=label, style="rounded", color="#868e96"
            )
            continue
        attrs = {"shape": "box", "style": "rounded"}
        if s.type == "final":
            attrs = {"shape": "doublecircle", "style": "solid", "fontsize": "9"}
        elif s.type == "human_gate":
            attrs = {"shape": "hexagon", "style": "filled", "fillcolor": "#fff3bf"}
        if s.name in visited:
            attrs.update(style="filled,rounded", fillcolor="#dbe4ff", color="#364fc7")
        if s.name == highlight:
            attrs.update(style="filled,bold", fillcolor="#d3f9d8", color="#2b8a3e", penwidth="2")
        attrs["label"] = "\n".join([s.short, *_actions(s)])
        parent.add_node(s.name, **attrs)
    graph.add_edge("__start__", machine.enter(machine.initial))
    for t in machine.transitions:
        attrs = {"label": _label(t.event, t.guard)}
        source, target = machine.enter(t.source), machine.enter(t.target)
        if machine.states.get(t.source) and machine.states[t.source].type == "compound":
            attrs["ltail"] = f"cluster_{_id(t.source)}"
        if machine.states.get(t.target) and machine.states[t.target].type == "compound":
            attrs["lhead"] = f"cluster_{_id(t.target)}"
        if (t.source, t.event, t.target) in taken or (source, t.event, target) in taken:
            attrs.update(color="#364fc7", fontcolor="#364fc7", penwidth="2")
        graph.add_edge(source, target, **attrs)
    return graph


def write_png(machine: Machine, path: str | Path, *, highlight: str | None = None) -> Path:
    """Render the machine to a PNG with pygraphviz (its wheel bundles graphviz: offline)."""
    graph = _graph(machine, highlight, ())
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        graph.draw(str(out), format="png", prog="dot")
    except OSError as exc:
        raise ConfigError(f"cannot write diagram to {out}: {exc.strerror or exc}") from None
    return out


def to_svg(
    machine: Machine,
    *,
    highlight: str | None = None,
    path: Sequence[Mapping[str, str]] = (),
) -> bytes:
    """The machine as SVG (offline, like `write_png`), with a thread's path marked: the web
    page shows it, since Mermaid would need a script from the network."""
    data: bytes = _graph(machine, highlight, path).draw(format="svg", prog="dot")
    return data
