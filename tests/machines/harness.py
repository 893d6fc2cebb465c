"""Drive a fixture machine with scripted node functions: in-process for most tests, and as
`python tests/machines/harness.py FIXTURE DB_URL THREAD PLAN_JSON` for kill -9 tests.

Each step state's function raises the next event of its `plan` entry (the last one repeats),
counts its runs in `ran` (a reducer key, so folded steps exercise the reducers), and appends
its name to `$STEP_LOG` (real runs, across crashes). `$KILL_AT=state:n` kills the process
(SIGKILL) right after the n-th run of `state` (once: a marker file stops it on the re-run).
The user action `record` appends `phase:state` to `$ACTION_LOG`; `die` kills the process once.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from lockstep.artifacts.store import ArtifactStore
from lockstep.checkpointers import open_checkpointer
from lockstep.db import Database
from lockstep.machine import compile_machine, load_machine, register_action
from lockstep.machine.actions import ActionRun
from lockstep.nodes.context import RunContext
from lockstep.state.machine import MachineState, merge_counters

HERE = Path(__file__).parent


class FixtureState(MachineState, total=False):
    plan: dict[str, list[str]]
    ran: Annotated[dict[str, int], merge_counters]
    draft: str
    research_mode: str
    escalated_from: str


class Clock:
    """An injectable clock that steps advance (`tick` seconds per step)."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        self.tick = tick

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _kill_once(tag: str) -> None:
    marker = os.environ.get("KILL_MARKER")
    if marker and not Path(f"{marker}.{tag}").exists():
        Path(f"{marker}.{tag}").write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)


def step_fn(name: str) -> Any:
    def fn(state: Any, runtime: Any) -> dict[str, Any]:
        n = (state.get("ran") or {}).get(name, 0)
        events = (state.get("plan") or {}).get(name) or ["?"]
        log = os.environ.get("STEP_LOG")
        if log:
            with open(log, "a") as f:
                f.write(name + "\n")
        clock = getattr(runtime.context, "clock", None)
        if isinstance(clock, Clock):
            clock.advance(clock.tick)
        if os.environ.get("KILL_AT") == f"{name}:{n + 1}":
            _kill_once(f"{name}-{n + 1}")
        return {"ran": {name: n + 1}, "event": events[min(n, len(events) - 1)], "draft": "d"}

    fn.__name__ = name.replace(".", "_")
    return fn


def _record(run: ActionRun) -> dict[str, str]:
    log = os.environ.get("ACTION_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{run.phase}:{run.state}\n")
    return {"recorded": run.state}


def _die(run: ActionRun) -> None:
    _kill_once(f"die-{run.phase}-{run.state}")


register_action("record", _record)
register_action("die", _die)


def build(fixture: str | Path, url: str, **compile_args: Any) -> tuple[Any, Any, RunContext]:
    machine = load_machine(fixture if isinstance(fixture, Path) else HERE / f"{fixture}.yaml")
    nodes = {s.name: step_fn(s.name) for s in machine.states.values() if s.type == "step"}
    for s in machine.states.values():
        for b in s.branches:
            nodes[f"{s.name}.{b}"] = lambda state, runtime: {}
    builder = compile_machine(machine, FixtureState, nodes, **compile_args)
    saver = open_checkpointer(url)
    db = Database(url)
    ctx = RunContext(db=db, artifacts=ArtifactStore(db), clock=Clock())
    return machine, builder.compile(checkpointer=saver), ctx


def drive(graph: Any, ctx: RunContext, thread: str, payload: Any) -> Any:
    config = {"configurable": {"thread_id": thread}}
    for _ in graph.stream(payload, config, context=ctx, durability="sync"):
        pass
    return graph.get_state(config)


if __name__ == "__main__":
    fixture, url, thread, plan = sys.argv[1:5]
    machine, graph, ctx = build(fixture if "/" not in fixture else Path(fixture), url)
    config = {"configurable": {"thread_id": thread}}
    started = graph.get_state(config).values
    snap = drive(graph, ctx, thread, None if started else {"plan": json.loads(plan)})
    print(json.dumps({"status": snap.values.get("status"), "next": list(snap.next)}))
