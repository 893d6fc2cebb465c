"""Draw a machine declaration: Mermaid text, and a PNG through graphviz with no network.

Drawn from the declaration rather than the compiled graph so the picture shows events and
guards, which LangGraph's conditional edges do not carry.
"""

from __future__ import annotations

from pathlib import Path

from lockstep.errors import ConfigError
from lockstep.machine.spec import Machine

__all__ = ["to_mermaid", "write_png"]


def _label(event: str, guard: str | None) -> str:
    return f"{event} [{guard}]" if guard else event


def to_mermaid(machine: Machine, *, highlight: str | None = None) -> str:
    """A Mermaid `stateDiagram-v2`; `highlight` marks one state (the thread's current one)."""
    lines = ["stateDiagram-v2", f"    [*] --> {machine.initial}"]
    for s in machine.states.values():
        if s.type == "human_gate":
            lines.append(f'    state "{s.name} (human gate)" as {s.name}')
    for t in machine.transitions:
        label = _label(t.event, t.guard).replace(":", " ")
        lines.append(f"    {t.source} --> {t.target}: {label}")
    for name in machine.finals():
        lines.append(f"    {name} --> [*]")
    gates = machine.gates()
    if gates:
        lines.append("    classDef gate fill:#fff3bf,stroke:#e8590c")
        lines.append(f"    class {','.join(gates)} gate")
    if highlight and highlight in machine.states:
        lines.append("    classDef current fill:#d3f9d8,stroke:#2b8a3e,stroke-width:3px")
        lines.append(f"    class {highlight} current")
    return "\n".join(lines) + "\n"


def write_png(machine: Machine, path: str | Path, *, highlight: str | None = None) -> Path:
    """Render the machine to a PNG with pygraphviz (its wheel bundles graphviz: offline)."""
    import pygraphviz

    graph = pygraphviz.AGraph(directed=True, strict=False, rankdir="LR", label=machine.name)
    graph.node_attr.update(fontname="Helvetica", fontsize="11", shape="box", style="rounded")
    graph.edge_attr.update(fontname="Helvetica", fontsize="9")
    graph.add_node("__start__", shape="point", width="0.15")
    for s in machine.states.values():
        attrs = {"shape": "box", "style": "rounded"}
        if s.type == "final":
            attrs = {"shape": "doublecircle", "style": "solid", "fontsize": "9"}
        elif s.type == "human_gate":
            attrs = {"shape": "hexagon", "style": "filled", "fillcolor": "#fff3bf"}
        if s.name == highlight:
            attrs.update(style="filled,bold", fillcolor="#d3f9d8", penwidth="2")
        graph.add_node(s.name, **attrs)
    graph.add_edge("__start__", machine.initial)
    for t in machine.transitions:
        graph.add_edge(t.source, t.target, label=_label(t.event, t.guard))
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        graph.draw(str(out), format="png", prog="dot")
    except OSError as exc:
        raise ConfigError(f"cannot write diagram to {out}: {exc.strerror or exc}") from None
    return out
