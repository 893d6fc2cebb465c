"""Compile a machine declaration into a LangGraph `StateGraph`.

Each step state becomes a node that calls its bound plain function `(state, runtime) -> dict`;
the function returns its update plus the `event` it raised. The compiler, not the node, picks
the transition (event + guards), records it in state and in the journal, and the node
returns a `Command` that goes straight to the target (declared as the node's destinations, so
diagrams still show every edge). Routing by `Command` rather than a conditional edge saves
the state read a router needs on every step. Events without a transition go to the error
state.
Human gates become nodes that `interrupt()` with a payload naming the gate, the material to
review, the allowed decisions and the deadline.

A step may also have an async function (`async_nodes`, for graphs driven with `astream`); only
such a step can carry a LangGraph `TimeoutPolicy` (`timeouts`): LangGraph cannot cancel a sync
node, and refuses a timeout on one. A timed-out attempt raises `NodeTimeoutError`, which the
client turns into the step's declared `timeout` event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, get_type_hints

from langchain_core.callbacks import get_usage_metadata_callback
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, TimeoutPolicy, interrupt

from lockstep.errors import MachineError
from lockstep.machine.check import check_machine
from lockstep.machine.spec import Machine
from lockstep.state.machine import total_tokens

__all__ = [
    "BUDGET_EVENT",
    "FAILURE_EVENT",
    "TIMEOUT_EVENT",
    "AsyncNodeFn",
    "GateHandler",
    "Journal",
    "NodeFn",
    "branch_node",
    "compile_machine",
    "entry_of",
    "gate_deadline",
    "now_iso",
]

NodeFn = Callable[[Any, Runtime[Any]], Mapping[str, Any] | None]
AsyncNodeFn = Callable[[Any, Runtime[Any]], Awaitable[Mapping[str, Any] | None]]
ReviewFn = Callable[[Any, Runtime[Any]], Mapping[str, Any]]
GateHandler = Callable[[Any, Runtime[Any], Mapping[str, Any]], Mapping[str, Any] | None]


class Journal(Protocol):
    """Where the compiler reports transitions outside the checkpoint (the audit log)."""

    def record(self, thread_id: str, kind: str, detail: Mapping[str, Any], actor: str) -> None: ...


def _clock(runtime: Runtime[Any]) -> datetime:
    clock = getattr(runtime.context, "clock", None)
    return clock() if clock else datetime.now(UTC)


def now_iso(runtime: Runtime[Any]) -> str:
    """The run's current time (the context's injectable clock) as ISO-8601 UTC."""
    return _clock(runtime).isoformat()


def entry_reason(state: Mapping[str, Any]) -> str | None:
    """Why the thread is where it is, from its transition log: the step and the event that
    brought it here, with the recorded error when a step failed or timed out. A gate shows
    this, so a person sees the actual reason rather than every reason the gate may have."""
    log = state.get("transitions") or []
    if not log:
        return None
    last = log[-1]
    reason = f"{last['from']} raised {last['event']}"
    error = state.get("error")
    if last["event"] in (FAILURE_EVENT, TIMEOUT_EVENT) and error:
        reason += f": {error}"
    return reason


def gate_deadline(machine: Machine, gate: str, state: Mapping[str, Any]) -> str | None:
    """Absolute UTC deadline of a gate: the time the thread entered it plus its timeout.

    Derived from the transition log so re-running the gate node yields the same deadline.
    """
    timeout = machine.states[gate].timeout
    if timeout is None:
        return None
    entered = next(
        (t["at"] for t in reversed(state.get("transitions") or []) if t["to"] == gate), None
    )
    if entered is None:
        return None
    return (datetime.fromisoformat(entered) + timedelta(seconds=timeout)).isoformat()


def _thread_id(runtime: Runtime[Any]) -> str | None:
    info = runtime.execution_info
    return info.thread_id if info else None


def _advance(
    machine: Machine,
    source: str,
    event: str | None,
    state: Mapping[str, Any],
    update: dict[str, Any],
    runtime: Runtime[Any],
    actor: str,
) -> dict[str, Any]:
    """Pick the transition for `event`, and return the update that records taking it."""
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
        target = transition.target
        for name in transition.increment:
            counters[name] = counters.get(name, 0) + 1
    entry = {"from": source, "event": event or "", "to": target, "at": now_iso(runtime)}
    update.update(status=target, transitions=[entry])
    if counters != (state.get("counters") or {}):
        update["counters"] = counters  # only when changed: each channel written costs a step
    journal: Journal | None = getattr(runtime.context, "journal", None)
    thread_id = _thread_id(runtime)
    if journal is not None and thread_id:
        detail = dict(entry)
        if transition is None:
            detail["error"] = update["error"]
        journal.record(thread_id, "transition", detail, actor)
    return update


def _guards(machine: Machine, source: str, event: str) -> str:
    guards = [t.guard or "always" for t in machine.outgoing(source) if t.event == event]
    return ", ".join(guards) or "none declared"


def branch_node(state: str, branch: str) -> str:
    """The node name of one parallel branch of a step state."""
    return f"{state}.{branch}"


def entry_of(machine: Machine, target: str) -> str | list[str]:
    """Where entering `target` starts: END for a final state, its branches (run in parallel,
    in one superstep) for a step that has them, else its own node."""
    decl = machine.states[target]
    if decl.type == "final":
        return END
    if decl.branches:
        return [branch_node(target, b) for b in decl.branches]
    return target


def _goto(machine: Machine, update: dict[str, Any]) -> Command[str]:
    return Command(update=update, goto=entry_of(machine, update["status"]))


FAILURE_EVENT = "step_failed"
"""The event raised for a step whose function failed after its retries; a machine that
declares a transition on it routes the failure (to a gate, or a final state)."""
BUDGET_EVENT = "budget_exhausted"
"""The event a step raises, instead of running, once the run's LLM token budget is spent."""
TIMEOUT_EVENT = "timeout"
"""The event a step raises when it runs past its time limit (checked by the step itself
between its checkpoints, or by LangGraph's `TimeoutPolicy` on an async step)."""


@contextmanager
def _meter(name: str, update: dict[str, Any], runtime: Runtime[Any]) -> Iterator[dict[str, Any]]:
    """Add the LLM usage of the calls made inside the block to the node's `update`."""
    with get_usage_metadata_callback() as meter:
        yield update
    spent = {"input_tokens": 0, "output_tokens": 0, "calls": 0}
    for usage in meter.usage_metadata.values():
        spent["input_tokens"] += usage.get("input_tokens", 0)
        spent["output_tokens"] += usage.get("output_tokens", 0)
        spent["calls"] += 1
    if spent["calls"]:
        update["usage"] = {name: spent}
        # Also journaled, so token totals (`/metrics`) read one table, not every checkpoint.
        journal: Journal | None = getattr(runtime.context, "journal", None)
        thread_id = _thread_id(runtime)
        if journal is not None and thread_id:
            journal.record(thread_id, "usage", {"step": name, **spent}, f"step:{name}")


def _metered(name: str, fn: NodeFn, state: Any, runtime: Runtime[Any]) -> dict[str, Any]:
    """Run a node function, adding the LLM usage of the calls it made to its update."""
    update: dict[str, Any] = {}
    with _meter(name, update, runtime):
        update.update(fn(state, runtime) or {})
    return update


def _over_budget(machine: Machine, name: str, state: Any, runtime: Runtime[Any]) -> bool:
    budget = getattr(runtime.context, "llm_tokens", None)
    declared = any(t.event == BUDGET_EVENT for t in machine.outgoing(name))
    return bool(budget and declared and total_tokens(state.get("usage")) >= budget)


def _branch_node(name: str, fn: NodeFn) -> Callable[..., dict[str, Any]]:
    def node(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        return _metered(name, fn, state, runtime)

    node.__name__ = name
    node.__doc__ = fn.__doc__
    return node


def _budget_spent(
    machine: Machine, name: str, state: dict[str, Any], runtime: Runtime[Any]
) -> Command[str]:
    """The step raises `budget_exhausted` instead of running."""
    update: dict[str, Any] = {"error": "the run's LLM token budget is spent"}
    return _goto(machine, _advance(machine, name, BUDGET_EVENT, state, update, runtime, "budget"))


def _route(
    machine: Machine,
    name: str,
    state: dict[str, Any],
    update: dict[str, Any],
    runtime: Runtime[Any],
) -> Command[str]:
    """Take the transition for the event the step's function returned in `update`."""
    event = update.pop("event", None)
    return _goto(machine, _advance(machine, name, event, state, update, runtime, f"step:{name}"))


def _step_node(machine: Machine, name: str, fn: NodeFn) -> Callable[..., Command[str]]:
    def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[str]:
        if _over_budget(machine, name, state, runtime):
            return _budget_spent(machine, name, state, runtime)
        return _route(machine, name, state, _metered(name, fn, state, runtime), runtime)

    node.__name__ = name
    node.__doc__ = fn.__doc__
    return node


def _astep_node(
    machine: Machine, name: str, afn: AsyncNodeFn
) -> Callable[..., Awaitable[Command[str]]]:
    """The async twin of `_step_node`: the same budget check, metering and routing."""

    async def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[str]:
        if _over_budget(machine, name, state, runtime):
            return _budget_spent(machine, name, state, runtime)
        update: dict[str, Any] = {}
        with _meter(name, update, runtime):
            update.update(await afn(state, runtime) or {})
        return _route(machine, name, state, update, runtime)

    node.__name__ = name
    node.__doc__ = afn.__doc__
    return node


def _gate_node(
    machine: Machine, name: str, review: ReviewFn | None, handler: GateHandler | None
) -> Callable[..., Command[str]]:
    decl = machine.states[name]
    decisions = machine.decisions(name)

    def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[str]:
        # Everything before interrupt() runs again on resume: it only reads.
        values = {**state, **(state.get("counters") or {})}
        payload: dict[str, Any] = {
            "gate": name,
            "workflow": machine.name,
            "description": decl.description,
            # a decision whose every transition is guarded off now is not offered (and is
            # refused like an unknown one), so a gate never routes to the error state
            "decisions": [d for d in decisions if machine.resolve(name, d, values) is not None],
            "comment_required": list(decl.comment_required),
            "requires": {k: list(v) for k, v in decl.requires.items()},
            "deadline": gate_deadline(machine, name, state),
            "reason": entry_reason(state),
            "review": dict(review(state, runtime)) if review else {},
        }
        while True:
            answer = interrupt(payload)
            problem = decision_problem(payload, answer)
            if problem is None:
                break
            payload = {**payload, "error": problem}
        answer = dict(answer)
        decision = answer["decision"]
        update = dict(handler(state, runtime, answer) or {}) if handler else {}
        by = str(answer.get("by") or "unknown")
        update["decisions"] = [
            {
                "gate": name,
                "decision": decision,
                "by": by,
                "comment": answer.get("comment"),
                "at": now_iso(runtime),
            }
        ]
        journal: Journal | None = getattr(runtime.context, "journal", None)
        thread_id = _thread_id(runtime)
        if journal is not None and thread_id:
            journal.record(thread_id, "decision", update["decisions"][0], by)
        return _goto(machine, _advance(machine, name, decision, state, update, runtime, by))

    node.__name__ = name
    return node


def decision_problem(gate: Mapping[str, Any], answer: Any) -> str | None:
    """Why `answer` cannot resume `gate` (a pending interrupt payload), or None if it can."""
    if not isinstance(answer, Mapping) or not answer.get("decision"):
        return "a gate answer must be a mapping with a 'decision'"
    decision = answer["decision"]
    allowed = gate["decisions"]
    if decision not in allowed:
        return (
            f"gate {gate['gate']!r} does not allow decision {decision!r}"
            f" (allowed: {', '.join(allowed)})"
        )
    if (
        decision in gate.get("comment_required", ())
        and not str(answer.get("comment") or "").strip()
    ):
        return f"decision {decision!r} at gate {gate['gate']!r} requires a comment"
    missing = [f for f in gate.get("requires", {}).get(decision, ()) if not answer.get(f)]
    if missing:
        return f"decision {decision!r} at gate {gate['gate']!r} requires {', '.join(missing)}"
    return None


def state_fields(schema: type) -> set[str]:
    """The keys of a TypedDict state schema, including inherited ones."""
    return set(get_type_hints(schema, include_extras=True))


def compile_machine(
    machine: Machine,
    state_schema: type,
    nodes: Mapping[str, NodeFn],
    *,
    reviews: Mapping[str, ReviewFn] | None = None,
    handlers: Mapping[str, GateHandler] | None = None,
    context_schema: type | None = None,
    input_schema: type | None = None,
    output_schema: type | None = None,
    retry_policy: RetryPolicy | None = None,
    async_nodes: Mapping[str, AsyncNodeFn] | None = None,
    timeouts: Mapping[str, float] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """Check `machine` statically, bind node functions by state name, and build the graph.

    `async_nodes` replaces a step's function with its async twin (for graphs driven with
    `astream`); `timeouts` gives such a step a `TimeoutPolicy` (seconds per attempt).
    Returns the uncompiled builder; call `.compile(checkpointer=...)` on it.
    """
    problems = check_machine(machine, state_fields(state_schema))
    steps = [s.name for s in machine.states.values() if s.type == "step"]
    problems += [f"step state {s!r} has no node function bound" for s in steps if s not in nodes]
    branches = [branch_node(s.name, b) for s in machine.states.values() for b in s.branches]
    problems += [f"branch {b!r} has no node function bound" for b in branches if b not in nodes]
    known = set(machine.states) | set(branches)
    bound = (
        ("node", nodes),
        ("async node", async_nodes or {}),
        ("review", reviews or {}),
        ("handler", handlers or {}),
    )
    for label, mapping in bound:
        problems += [f"{label} bound to unknown state {s!r}" for s in mapping if s not in known]
    problems += [
        f"timeout on step {s!r} needs an async function: LangGraph's TimeoutPolicy applies "
        "only to async nodes"
        for s in timeouts or {}
        if s not in (async_nodes or {})
    ]
    if problems:
        raise MachineError(machine.name, problems)

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        state_schema, context_schema, input_schema=input_schema, output_schema=output_schema
    )
    for decl in machine.states.values():
        if decl.type == "final":
            continue
        timeout = None
        if decl.type == "step" and decl.name in (async_nodes or {}):
            action: Callable[..., Any] = _astep_node(
                machine, decl.name, (async_nodes or {})[decl.name]
            )
            seconds = (timeouts or {}).get(decl.name)
            timeout = TimeoutPolicy(run_timeout=seconds) if seconds else None
        elif decl.type == "step":
            action = _step_node(machine, decl.name, nodes[decl.name])
        else:
            action = _gate_node(
                machine, decl.name, (reviews or {}).get(decl.name), (handlers or {}).get(decl.name)
            )
        targets = {t.target for t in machine.outgoing(decl.name)} | {machine.error_state}
        destinations: set[str] = set()
        for target in targets:
            entry = entry_of(machine, target)
            destinations.update([entry] if isinstance(entry, str) else entry)
        builder.add_node(
            decl.name,
            action,
            retry_policy=retry_policy,
            destinations=tuple(sorted(destinations)),
            timeout=timeout,
        )
        if decl.branches:
            names = [branch_node(decl.name, b) for b in decl.branches]
            for name in names:
                # a branch returns only its own results (merged by the state's reducers); the
                # step's function runs once both are in, and raises the event
                builder.add_node(name, _branch_node(name, nodes[name]), retry_policy=retry_policy)
            builder.add_edge(names, decl.name)
    start = entry_of(machine, machine.initial)
    for node in [start] if isinstance(start, str) else start:
        builder.add_edge(START, node)
    return builder
