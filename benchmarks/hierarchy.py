"""Compound states: flattened nodes (what `compile_machine` does) against LangGraph subgraphs,
per step (issue 19, point 4: measure both, choose).

Three graphs run the same 10 steps on SqliteSaver (one file each, WAL, durability="sync"), in
one process, interleaved run by run:

- `lockstep flattened`: a machine whose compound state `inner` holds `c1..c10`, compiled by
  lockstep (each child a node of the one graph; `inner`'s transitions copied onto each child);
- `langgraph flat`: a hand-written chain of 10 nodes;
- `langgraph subgraph`: the same chain compiled as a subgraph, added as one node of a parent.

The choice is between the last two shapes (lockstep's own per-step work is the same on either),
so the ratio that decides is subgraph / flat; lockstep flattened / flat is the per-step overhead
of the machine, as in benchmarks/overhead.py.

    python benchmarks/hierarchy.py [--runs 30]
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import itertools
import statistics
import tempfile
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from lockstep.db import Database, connect_sqlite
from lockstep.machine import compile_machine, load_machine
from lockstep.state.machine import MachineState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.overhead import STEPS, Ctx, PlainState, timed

NAMES = [f"c{i}" for i in range(1, STEPS + 1)]


def flattened(path: Path) -> tuple[Any, Ctx]:
    children = {
        name: {"transitions": [{"event": "next", "target": f"inner.{nxt}" if nxt else "done"}]}
        for name, nxt in zip(NAMES, [*NAMES[1:], None], strict=True)
    }
    machine = load_machine(
        {
            "name": "compound",
            "initial": "inner",
            "error_state": "failed",
            "states": {
                "inner": {
                    "initial": NAMES[0],
                    "transitions": [{"event": "cancel", "target": "failed"}],
                    "states": children,
                },
                "done": {"type": "final"},
                "failed": {"type": "final"},
            },
        }
    )
    nodes = {f"inner.{n}": (lambda state, runtime: {"event": "next"}) for n in NAMES}
    graph = compile_machine(machine, MachineState, nodes).compile(
        checkpointer=SqliteSaver(connect_sqlite(path))
    )
    return graph, Ctx(Database(f"sqlite:///{path.with_suffix('.journal.db')}"))


def chain() -> StateGraph[Any]:
    builder = StateGraph(PlainState)
    for n in NAMES:
        builder.add_node(n, lambda state, n=n: {"status": n})
    builder.add_edge(START, NAMES[0])
    for a, b in itertools.pairwise(NAMES):
        builder.add_edge(a, b)
    builder.add_edge(NAMES[-1], END)
    return builder


def flat(path: Path) -> Any:
    return chain().compile(checkpointer=SqliteSaver(connect_sqlite(path)))


def subgraph(path: Path) -> Any:
    parent = StateGraph(PlainState)
    parent.add_node("inner", chain().compile())
    parent.add_edge(START, "inner")
    parent.add_edge("inner", END)
    return parent.compile(checkpointer=SqliteSaver(connect_sqlite(path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours, ctx = flattened(Path(tmp) / "flattened.db")
        graphs = {
            "lockstep flattened": (ours, ctx),
            "langgraph flat": (flat(Path(tmp) / "flat.db"), None),
            "langgraph subgraph": (subgraph(Path(tmp) / "subgraph.db"), None),
        }
        for graph, context in graphs.values():  # warm up
            for _ in range(3):
                timed(graph, context)
        times: dict[str, list[float]] = {name: [] for name in graphs}
        for _ in range(args.runs):
            for name, (graph, context) in graphs.items():
                times[name].append(timed(graph, context))
        ctx.journal.close()
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, ms in median.items():
        print(f"{name:<20} {ms:.3f} ms/step")
    print(
        f"subgraph / flat          : {median['langgraph subgraph'] / median['langgraph flat']:.2f}"
    )
    print(
        f"lockstep flattened / flat: {median['lockstep flattened'] / median['langgraph flat']:.2f}"
    )


if __name__ == "__main__":
    main()
