"""Taking a transition at run time: pick it (event + guards), record it (state, transition log,
audit journal), run the exit and entry actions it crosses, and fold the next steps into the
same superstep when the target's checkpoint policy says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, get_args, get_origin, get_type_hints

from langchain_core.callbacks import get_usage_metadata_callback
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from lockstep.machine.actions import run_actions
from lockstep.machine.policy import fold_next
from lockstep.machine.spec import ActionCall, Machine
from lockstep.state.machine import log_entry, total_tokens

__all__ = [
    "BUDGET_EVENT",
    "FAILURE_EVENT",
    "TIMEOUT_EVENT",
    "Journal",
    "NodeFn",
    "advance",
    "branch_node",
    "clock_of",
    "crossing",
    "entry_of",
    "now_iso",
    "reducers_of",
    "run_chain",
    "thread_id_of",
]

NodeFn = Callable[[Any, Runtime[Any]], Mapping[str, Any] | None]
Reducers = Mapping[str, Callable[[Any, Any], Any]]

FAILURE_EVENT = "step_failed"
"""The event raised for a step whose function failed after its retries; a machine that
declares a transition on it routes the failure (to a gate, or a final state)."""
BUDGET_EVENT = "budget_exhausted"
"""The event a step raises, instead of running, once the run's LLM token budget is spent."""
TIMEOUT_EVENT = "timeout"
"""The event a step raises when it runs past its time limit (checked by the step itself
between its checkpoints, or by LangGraph's `TimeoutPolicy` on an async step)."""


class Journal(Protocol):
    """Where the compiler reports transitions outside the checkpoint (the audit log)."""

    def record(self, thread_id: str, kind: str, detail: Mapping[str, Any], actor: str) -> None: ...


def clock_of(runtime: Runtime[Any]) -> datetime:
    clock = getattr(runtime.context, "clock", None)
    return clock() if clock else datetime.now(UTC)


def now_iso(runtime: Runtime[Any]) -> str:
    """The run's current time (the context's injectable clock) as ISO-8601 UTC."""
    return clock_of(runtime).isoformat()


def thread_id_of(runtime: Runtime[Any]) -> str | None:
    info = runtime.execution_info
    return info.thread_id if info else None


def task_of(runtime: Runtime[Any]) -> str:
    info = runtime.execution_info
    return info.task_id if info else "task"


def branch_node(state: str, branch: str) -> str:
    """The node name of one parallel branch of a step state."""
    return f"{state}.{branch}"


def entry_of(machine: Machine, target: str) -> str | list[str]:
    """Where entering `target` starts: END for a final state, its branches (run in parallel,
    in one superstep) for a step that has them, else its own node (a compound's initial
    leaf, for a compound)."""
    decl = machine.states[machine.enter(target)]
    if decl.type == "final":
        return END
    if decl.branches:
        return [branch_node(decl.name, b) for b in decl.branches]
    return decl.name


def crossing(machine: Machine, source: str, target: str) -> tuple[list[str], list[str]]:
    """The states a transition exits (innermost first) and enters (outermost first). A
    self-transition (a progress step) crosses nothing."""
    if source == target:
        return [], []
    up = [source, *machine.ancestors(source)]
    down = [target, *machine.ancestors(target)]
    common = next((s for s in up if s in down), None)
    exited = up[: up.index(common)] if common else up
    entered = down[: down.index(common)] if common else down
    return exited, list(reversed(entered))


def reducers_of(schema: type) -> dict[str, Callable[[Any, Any], Any]]:
    """The reducer of every `Annotated[..., reducer]` key of a TypedDict state schema."""
    out = {}
    for key, hint in get_type_hints(schema, include_extras=True).items():
        if get_origin(hint) is Annotated:
            fns = [a for a in get_args(hint)[1:] if callable(a)]
            if fns:
                out[key] = fns[-1]
    return out


def apply_update(values: dict[str, Any], update: Mapping[str, Any], reducers: Reducers) -> None:
    """Apply `update` to `values` as LangGraph would (reducers for annotated keys)."""
    for key, value in update.items():
        old = values.get(key)
        values[key] = reducers[key](old, value) if key in reducers and old is not None else value


def merge_writes(writes: list[dict[str, Any]], reducers: Reducers) -> Any:
    """One node's writes for several folded steps: each reducer key's updates in order, the
    last value of every plain key (LangGraph refuses two values of one plain key)."""
    if len(writes) == 1:
        return writes[0]
    out: list[tuple[str, Any]] = []
    last: dict[str, Any] = {}
    for write in writes:
        for key, value in write.items():
            if key in reducers:
                out.append((key, value))
            else:
                last[key] = value
    return out + list(last.items())


def _journal(runtime: Runtime[Any]) -> Journal | None:
    journal: Journal | None = getattr(runtime.context, "journal", None)
    return journal


def actions_of(
    machine: Machine, exited: list[str], entered: list[str]
) -> list[tuple[str, str, ActionCall]]:
    calls = [("exit", s, a) for s in exited for a in machine.states[s].on_exit]
    return calls + [("enter", s, a) for s in entered for a in machine.states[s].on_enter]


def advance(
    machine: Machine,
    source: str,
    event: str | None,
    state: Mapping[str, Any],
    update: dict[str, Any],
    runtime: Runtime[Any],
    actor: str,
    seq: int = 0,
) -> dict[str, Any]:
    """Pick the transition for `event`, run the actions it crosses, and return the update
    that records taking it. `seq` numbers the transitions of one task (the actions' key)."""
    counters = {**(state.get("counters") or {}), **(update.get("counters") or {})}
    values = {**state, **update, **counters}
    transition = machine.resolve(source, event, values) if event else None
    if transition is None:
        target = machine.error_state
        update["error"] = (
            f"step {source!r} raised no event"
            if not event
            else f"no transition from {source!r} on event {event!r}"
            f" (guards: {_guards(machine, source, event)})"
        )
    else:
        target = machine.enter(transition.target)
        for name in transition.increment:
            counters[name] = counters.get(name, 0) + 1
    entry = log_entry(state.get("transitions"), source, event or "", target, now_iso(runtime))
    update.update(status=target, transitions=[entry])
    if counters != (state.get("counters") or {}):
        update["counters"] = counters  # only when changed: each channel written costs a step
    journal = _journal(runtime)
    thread_id = thread_id_of(runtime)
    if journal is not None and thread_id:
        detail = dict(entry)
        if transition is None:
            detail["error"] = update["error"]
        journal.record(thread_id, "transition", detail, actor)
    calls = actions_of(machine, *crossing(machine, source, target))
    if calls:
        run_actions(
            calls,
            key=f"{task_of(runtime)}:{seq}",
            thread_id=thread_id,
            workflow=machine.name,
            transition=entry,
            values={**state, **update},
            context=runtime.context,
        )
    return update


def enter_initial(machine: Machine, state: Mapping[str, Any], runtime: Runtime[Any]) -> None:
    """Run the initial state's entry actions (and its parents') on a thread's first step."""
    if state.get("status") or state.get("transitions"):
        return
    leaf = machine.enter(machine.initial)
    entered = list(reversed([leaf, *machine.ancestors(leaf)]))
    calls = actions_of(machine, [], entered)
    if calls:
        entry = {"from": "", "event": "start", "to": leaf, "at": now_iso(runtime)}
        run_actions(
            calls,
            key=f"{task_of(runtime)}:start",
            thread_id=thread_id_of(runtime),
            workflow=machine.name,
            transition=entry,
            values=state,
            context=runtime.context,
        )


def _guards(machine: Machine, source: str, event: str) -> str:
    guards = [t.guard or "always" for t in machine.applicable(source) if t.event == event]
    return ", ".join(guards) or "none declared"


@contextmanager
def meter(name: str, update: dict[str, Any], runtime: Runtime[Any]) -> Iterator[dict[str, Any]]:
    """Add the LLM usage of the calls made inside the block to the node's `update`."""
    with get_usage_metadata_callback() as usage_meter:
        yield update
    spent = {"input_tokens": 0, "output_tokens": 0, "calls": 0}
    for usage in usage_meter.usage_metadata.values():
        spent["input_tokens"] += usage.get("input_tokens", 0)
        spent["output_tokens"] += usage.get("output_tokens", 0)
        spent["calls"] += 1
    if spent["calls"]:
        update["usage"] = {name: spent}
        # Also journaled, so token totals (`/metrics`) read one table, not every checkpoint.
        journal = _journal(runtime)
        thread_id = thread_id_of(runtime)
        if journal is not None and thread_id:
            journal.record(thread_id, "usage", {"step": name, **spent}, f"step:{name}")


def metered(name: str, fn: NodeFn, state: Any, runtime: Runtime[Any]) -> dict[str, Any]:
    """Run a node function, adding the LLM usage of the calls it made to its update."""
    update: dict[str, Any] = {}
    with meter(name, update, runtime):
        update.update(fn(state, runtime) or {})
    return update


def over_budget(machine: Machine, name: str, state: Any, runtime: Runtime[Any]) -> bool:
    budget = getattr(runtime.context, "llm_tokens", None)
    declared = any(t.event == BUDGET_EVENT for t in machine.applicable(name))
    return bool(budget and declared and total_tokens(state.get("usage")) >= budget)


def run_step(
    machine: Machine, name: str, fn: NodeFn, state: Any, runtime: Runtime[Any]
) -> tuple[dict[str, Any], str]:
    """A step's update (with its `event`) and the actor its transition is recorded as."""
    if over_budget(machine, name, state, runtime):
        return {"error": "the run's LLM token budget is spent", "event": BUDGET_EVENT}, "budget"
    return metered(name, fn, state, runtime), f"step:{name}"


def run_chain(
    machine: Machine,
    name: str,
    state: Mapping[str, Any],
    update: dict[str, Any],
    actor: str,
    runtime: Runtime[Any],
    nodes: Mapping[str, NodeFn],
    reducers: Reducers,
    pre: Mapping[str, Any] | None = None,
    started: datetime | None = None,
) -> Command[Any]:
    """Take the transition for the event in `update`, then, while the checkpoint policy folds
    the next step into this superstep, run it here and take its transition too. One
    `Command` carries every write and goes to where the last transition leads. `started` is
    when the superstep's first step began (time-based policies count from it)."""
    writes: list[dict[str, Any]] = [dict(pre)] if pre else []
    values = dict(state)
    for write in writes:
        apply_update(values, write, reducers)
    current, steps, seq = name, 1, 0
    started = started or clock_of(runtime)
    while True:
        event = update.pop("event", None)
        routed = advance(machine, current, event, values, update, runtime, actor, seq)
        writes.append(routed)
        apply_update(values, routed, reducers)
        target, seq = routed["status"], seq + 1
        if not fold_next(machine, current, event or "", target, steps, started, clock_of(runtime)):
            break
        steps = steps + 1 if target == current else 1
        current = target
        update, actor = run_step(machine, current, nodes[current], values, runtime)
    return Command(update=merge_writes(writes, reducers), goto=entry_of(machine, target))
