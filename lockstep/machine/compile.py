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

Hierarchy is compiled flattened: each leaf state is one node named by its full path
(`researching.extracting`), a transition declared on a compound state is taken from every
leaf inside it, and entering a compound enters its initial leaf (measured against subgraphs
in BENCHMARKS.md). Taking a transition runs its exit/entry actions (`actions.py`) and may fold
the next steps into the same superstep (`policy.py`); each step and gate first checks the
session timeout (`session.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, get_type_hints

from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, TimeoutPolicy, interrupt

from lockstep.errors import MachineError
from lockstep.machine.check import check_machine
from lockstep.machine.routing import (
    BUDGET_EVENT,
    FAILURE_EVENT,
    TIMEOUT_EVENT,
    Journal,
    NodeFn,
    Reducers,
    branch_node,
    clock_of,
    enter_initial,
    entry_of,
    meter,
    metered,
    now_iso,
    over_budget,
    reducers_of,
    run_chain,
    run_step,
    thread_id_of,
)
from lockstep.machine.session import SESSION_EXPIRED, check_session, session_deadline
from lockstep.machine.spec import Machine

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
    "decision_problem",
    "entry_of",
    "gate_deadline",
    "now_iso",
    "state_fields",
]

AsyncNodeFn = Callable[[Any, Runtime[Any]], Awaitable[Mapping[str, Any] | None]]
ReviewFn = Callable[[Any, Runtime[Any]], Mapping[str, Any]]
GateHandler = Callable[[Any, Runtime[Any], Mapping[str, Any]], Mapping[str, Any] | None]


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
    entered = _entered(gate, state)
    if entered is None:
        return None
    return (datetime.fromisoformat(entered) + timedelta(seconds=timeout)).isoformat()


def _entered(name: str, state: Mapping[str, Any]) -> str | None:
    return next(
        (t["at"] for t in reversed(state.get("transitions") or []) if t["to"] == name), None
    )


def _branch_node(name: str, fn: NodeFn) -> Callable[..., dict[str, Any]]:
    def node(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        return metered(name, fn, state, runtime)

    node.__name__ = name
    node.__doc__ = fn.__doc__
    return node


def _step_node(
    machine: Machine, name: str, nodes: Mapping[str, NodeFn], reducers: Reducers
) -> Callable[..., Command[Any]]:
    fn = nodes[name]

    def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[Any]:
        enter_initial(machine, state, runtime)
        pre = check_session(machine, name, state, runtime)
        values = {**state, **pre}
        started = clock_of(runtime)
        update, actor = run_step(machine, name, fn, values, runtime)
        return run_chain(
            machine, name, values, update, actor, runtime, nodes, reducers, pre, started
        )

    node.__name__ = name
    node.__doc__ = fn.__doc__
    return node


def _astep_node(
    machine: Machine,
    name: str,
    afn: AsyncNodeFn,
    nodes: Mapping[str, NodeFn],
    reducers: Reducers,
) -> Callable[..., Awaitable[Command[Any]]]:
    """The async twin of `_step_node`: the same budget check, metering and routing."""

    async def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[Any]:
        enter_initial(machine, state, runtime)
        pre = check_session(machine, name, state, runtime)
        values = {**state, **pre}
        started = clock_of(runtime)
        if over_budget(machine, name, values, runtime):
            update: dict[str, Any] = {
                "error": "the run's LLM token budget is spent",
                "event": BUDGET_EVENT,
            }
            actor = "budget"
        else:
            update, actor = {}, f"step:{name}"
            with meter(name, update, runtime):
                update.update(await afn(values, runtime) or {})
        return run_chain(
            machine, name, values, update, actor, runtime, nodes, reducers, pre, started
        )

    node.__name__ = name
    node.__doc__ = afn.__doc__
    return node


def _gate_node(
    machine: Machine,
    name: str,
    review: ReviewFn | None,
    handler: GateHandler | None,
    nodes: Mapping[str, NodeFn],
    reducers: Reducers,
) -> Callable[..., Command[Any]]:
    decl = machine.states[name]
    decisions = machine.decisions(name)

    def node(state: dict[str, Any], runtime: Runtime[Any]) -> Command[Any]:
        # Everything before interrupt() runs again on resume: it only reads (the session is
        # checked at the recorded entry time, so a re-run decides alike).
        enter_initial(machine, state, runtime)
        entered = _entered(name, state)
        at = datetime.fromisoformat(entered) if entered else None
        pre = check_session(machine, name, state, runtime, at=at)
        state = {**state, **pre}
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
        session_end = session_deadline(machine, name, state)
        if session_end:
            payload["session_deadline"] = session_end
        while True:
            answer = interrupt(payload)
            if isinstance(answer, Mapping) and answer.get("decision") == SESSION_EXPIRED:
                # the session ran out while people were deciding: pause until resumed
                pre = check_session(machine, name, state, runtime, expired=True)
                state = {**state, **pre}
                # the resumed session has its own deadline (the sweep reads it from here)
                payload = {**payload, "session_deadline": session_deadline(machine, name, state)}
                continue
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
        thread_id = thread_id_of(runtime)
        if journal is not None and thread_id:
            journal.record(thread_id, "decision", update["decisions"][0], by)
        update["event"] = decision
        return run_chain(machine, name, state, update, by, runtime, nodes, reducers, pre)

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
    reducers = reducers_of(state_schema)
    for decl in machine.states.values():
        if decl.type in ("final", "compound"):
            continue
        timeout = None
        if decl.type == "step" and decl.name in (async_nodes or {}):
            action: Callable[..., Any] = _astep_node(
                machine, decl.name, (async_nodes or {})[decl.name], nodes, reducers
            )
            seconds = (timeouts or {}).get(decl.name)
            timeout = TimeoutPolicy(run_timeout=seconds) if seconds else None
        elif decl.type == "step":
            action = _step_node(machine, decl.name, nodes, reducers)
        else:
            action = _gate_node(
                machine,
                decl.name,
                (reviews or {}).get(decl.name),
                (handlers or {}).get(decl.name),
                nodes,
                reducers,
            )
        targets = {t.target for t in machine.applicable(decl.name)} | {machine.error_state}
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
