"""Per-step overhead of lockstep's compiled machine against a hand-written LangGraph graph.

Both run a 10-step no-op workflow on SqliteSaver (one file each, WAL, durability="sync"), in
one process, interleaved run by run, so machine noise hits both alike. lockstep's side includes
everything it adds per step: transition lookup and guards, the transition log, counters and
the audit-journal row.

    python benchmarks/overhead.py [--runs 30] [--json]
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import itertools
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from lockstep.db import Database, connect_sqlite
from lockstep.machine import compile_machine, load_machine
from lockstep.state.machine import MachineState

STEPS = 10


class PlainState(TypedDict, total=False):
    status: str


class Ctx:
    """What lockstep passes as context: here only the audit journal."""

    def __init__(self, journal: Database) -> None:
        self.journal = journal


def lockstep_graph(path: Path) -> tuple[Any, Any]:
    names = [f"s{i}" for i in range(1, STEPS + 1)]
    machine = load_machine(
        {
            "name": "noop",
            "initial": names[0],
            "error_state": "failed",
            "states": {
                **{n: {} for n in names},
                "done": {"type": "final"},
                "failed": {"type": "final"},
            },
            "transitions": [
                {"from": n, "event": "next", "target": (names[i + 1] if i + 1 < STEPS else "done")}
                for i, n in enumerate(names)
            ],
        }
    )

    def noop(state: Any, runtime: Any) -> dict[str, str]:
        return {"event": "next"}

    builder = compile_machine(machine, MachineState, dict.fromkeys(names, noop))
    db = Database(f"sqlite:///{path.with_suffix('.lockstep.db')}")
    graph = builder.compile(checkpointer=SqliteSaver(connect_sqlite(path)))
    return graph, Ctx(db)


def langgraph_graph(path: Path) -> Any:
    builder = StateGraph(PlainState)
    names = [f"s{i}" for i in range(1, STEPS + 1)]
    for n in names:
        builder.add_node(n, lambda state, n=n: {"status": n})
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=SqliteSaver(connect_sqlite(path)))


def timed(graph: Any, context: Any = None) -> float:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    start = time.perf_counter()
    graph.invoke({}, config, context=context, durability="sync")
    return (time.perf_counter() - start) * 1000 / STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours, ctx = lockstep_graph(Path(tmp) / "lockstep.db")
        plain = langgraph_graph(Path(tmp) / "langgraph.db")
        for _ in range(3):  # warm both up
            timed(ours, ctx)
            timed(plain)
        a, b = [], []
        for _ in range(args.runs):
            a.append(timed(ours, ctx))
            b.append(timed(plain))
        ctx.journal.close()
    result = {
        "lockstep_ms_per_step": round(statistics.median(a), 4),
        "langgraph_ms_per_step": round(statistics.median(b), 4),
        "ratio": round(statistics.median(a) / statistics.median(b), 3),
        "runs": args.runs,
        "steps": STEPS,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"lockstep : {result['lockstep_ms_per_step']:.3f} ms/step")
        print(f"langgraph: {result['langgraph_ms_per_step']:.3f} ms/step")
        print(f"ratio    : {result['ratio']:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
