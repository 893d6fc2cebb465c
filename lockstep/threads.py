"""What every part of the client shares: a thread's status read from its checkpoint, the
payloads that start and resume it, and `ThreadsBase`, the plumbing (database, artifacts,
checkpointer, compiled graphs, run context, driving a graph) that `Lockstep` and its
gates, recovery and retention parts build on."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Self

from langchain_core.language_models import BaseChatModel
from langgraph.errors import NodeTimeoutError
from langgraph.types import Command

from lockstep.agents.models import get_chat_model
from lockstep.artifacts.store import ArtifactStore
from lockstep.checkpointers import close_checkpointer, open_checkpointer
from lockstep.db import Database
from lockstep.errors import (
    InvalidDecision,
    LockstepError,
    ThreadNotFound,
    ThreadStateError,
)
from lockstep.graphs import workflow_machine, workflow_module
from lockstep.ids import check_id
from lockstep.machine import decision_problem
from lockstep.machine.compile import FAILURE_EVENT, TIMEOUT_EVENT, entry_of
from lockstep.nodes.context import RunContext, utcnow
from lockstep.state.machine import MAX_LOG, ArtifactRef, log_entry, total_tokens

__all__ = [
    "OnUpdate",
    "ThreadStatus",
    "ThreadsBase",
    "failure_route",
    "refs_in",
    "resume_payload",
    "start_payload",
    "status_of",
]

OnUpdate = Callable[[str, Mapping[str, Any]], None]


@dataclass
class ThreadStatus:
    """Where a thread is, answered from its latest checkpoint."""

    thread_id: str
    workflow: str
    status: str
    """The machine's state name."""
    final: bool
    """True when the thread reached a final state (completed, rejected, ...)."""
    gate: dict[str, Any] | None = None
    """The pending gate's payload (gate, decisions, deadline, review) when waiting."""
    interrupted: bool = False
    """True when a step started but never finished (a crash): `resume` re-runs it."""
    next: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    rejection_reason: str | None = None
    checkpoint_id: str | None = None
    updated_at: str | None = None
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    """LLM tokens in and out and calls per step; `total_tokens` sums them."""

    @property
    def total_tokens(self) -> int:
        return total_tokens(self.usage)

    @property
    def waiting(self) -> bool:
        return self.gate is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def status_of(thread_id: str, workflow: str, snapshot: Any) -> ThreadStatus:
    """A thread's status from its latest `StateSnapshot` (shared by the sync and async clients)."""
    values = snapshot.values or {}
    machine = workflow_machine(workflow)
    status = values.get("status") or machine.initial
    gate = None
    if snapshot.interrupts:
        pending = snapshot.interrupts[0]
        gate = {**pending.value, "interrupt_id": pending.id}
        if gate.get("session_expired"):  # timeouts.session ran out: `resume` continues it
            status = "session_expired"
    # `next` lists only tasks still to run; a process killed after a step's writes were saved
    # but before the step's checkpoint leaves none, though the step is not closed: its tasks
    # (in `snapshot.tasks`) are what `resume` finishes, so they count as where it stopped.
    next_steps = [str(n) for n in snapshot.next] or [t.name for t in snapshot.tasks]
    is_final = (
        not next_steps
        and machine.states.get(status) is not None
        and (machine.states[status].type == "final")
    )
    return ThreadStatus(
        thread_id=thread_id,
        workflow=workflow,
        status=status,
        final=is_final,
        gate=gate,
        interrupted=bool(next_steps) and gate is None,
        next=next_steps,
        counters=dict(values.get("counters") or {}),
        transitions=list(values.get("transitions") or [])[-MAX_LOG:],
        error=(gate or {}).get("message") or values.get("error"),
        rejection_reason=values.get("rejection_reason"),
        checkpoint_id=(snapshot.config or {}).get("configurable", {}).get("checkpoint_id"),
        updated_at=snapshot.created_at,
        usage=dict(values.get("usage") or {}),
    )


def whole_log(tail: list[dict[str, Any]], journaled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A thread's whole transition log from state's `tail` and the journal's entries (in the
    order recorded): numbers 1..the tail's last, the last record of each number winning —
    a step re-run after a crash records its number again, and after a rollback the new branch
    re-uses the numbers the superseded one had. Entries from before numbering: the tail."""
    if not tail or tail[-1].get("n") is None:
        return tail
    last = int(tail[-1]["n"])
    by_n: dict[int, dict[str, Any]] = {}
    for detail in journaled:
        n = detail.get("n")
        if isinstance(n, int) and 1 <= n <= last:
            by_n[n] = {k: detail[k] for k in ("from", "event", "to", "at", "n") if k in detail}
    by_n.update({int(e["n"]): e for e in tail if e.get("n") is not None})
    return [by_n[n] for n in sorted(by_n)]


def resume_payload(
    current: ThreadStatus,
    decision: str | None,
    *,
    comment: str | None = None,
    by: str | None = None,
    **fields: Any,
) -> Command[Any] | None:
    """What resumes `current`: a `Command` answering its gate, or None to re-run the step a
    crash interrupted. Refuses (raising, nothing changed) what LangGraph would get wrong:
    a finished thread, a decision without a gate, a gate without an allowed decision."""
    thread_id = current.thread_id
    if current.final:
        hint = (
            "; an abandoned thread cannot be resumed"
            if current.status == "abandoned"
            else "; use rollback to continue from an earlier checkpoint"
        )
        raise ThreadStateError(
            f"thread {thread_id} is {current.status}; there is nothing to resume{hint}"
        )
    if not current.next:
        raise ThreadStateError(f"thread {thread_id} has no checkpoint to resume from")
    gate = current.gate
    if gate is None:
        if decision is not None:
            raise ThreadStateError(
                f"thread {thread_id} is not waiting at a gate (interrupted in "
                f"{', '.join(current.next)}); resume it without a decision"
            )
        return None
    if decision is None and gate.get("session_expired"):
        decision = "resume"
    if decision is None:
        raise InvalidDecision(
            f"thread {thread_id} is waiting at gate {gate['gate']!r}: "
            f"give a decision ({', '.join(gate['decisions'])})"
        )
    answer: dict[str, Any] = {"decision": decision, "comment": comment, "by": by or "unknown"}
    answer.update({k: v for k, v in fields.items() if v is not None})
    problem = decision_problem(gate, answer)
    if problem:
        raise InvalidDecision(problem)
    if "sources" in answer:
        workflow_module(current.workflow).check_inputs({"sources": [answer["sources"]]})
    return Command(resume={gate["interrupt_id"]: answer})


def failure_route(
    workflow: str, current: ThreadStatus, values: Mapping[str, Any], exc: BaseException, at: str
) -> tuple[str, Command[Any], dict[str, Any], str] | None:
    """How the machine takes a step's failure after its retries: `(node, command, entry,
    error)`, the
    command going to the step's declared `timeout` target when LangGraph's `TimeoutPolicy`
    cut the step short, else to its `step_failed` target; None when it declares neither (the
    error surfaces and the thread stays resumable at that step). Shared by both clients."""
    if not current.next or current.gate is not None:
        return None
    machine = workflow_machine(workflow)
    node = str(current.next[0])
    if node not in machine.states:  # a failed branch (`step.branch`) fails its step
        node = node.rsplit(".", 1)[0]
    timed_out = isinstance(exc, NodeTimeoutError)
    event = TIMEOUT_EVENT if timed_out else FAILURE_EVENT
    transition = machine.resolve(node, event, {**values, **current.counters})
    if transition is None:
        return None
    detail = " ".join(str(exc).split())[:300]
    error = (
        f"step {node!r} ran past its time limit: {detail}"
        if timed_out
        else f"step {node!r} failed after retries: {type(exc).__name__}: {detail}"
    )
    entry = log_entry(values.get("transitions"), node, event, transition.target, at)
    command: Command[Any] = Command(
        goto=entry_of(machine, transition.target),
        update={"status": transition.target, "transitions": [entry], "error": error},
    )
    return node, command, entry, error


def start_payload(
    db: Database,
    workflow: str,
    thread_id: str | None,
    created_at: str,
    created_by: str | None,
    inputs: Mapping[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Check a new run's inputs and register its thread; returns (thread_id, graph input)."""
    payload = workflow_module(workflow).check_inputs(dict(inputs))
    thread_id = check_id(thread_id) if thread_id else uuid.uuid4().hex
    if db.thread(thread_id) is not None:
        raise ThreadStateError(f"thread {thread_id!r} already exists; use resume")
    db.register_thread(thread_id, workflow, created_at, payload, created_by)
    return thread_id, payload


class ThreadsBase:
    """The client's plumbing; see `Lockstep` for the API."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        model: str | BaseChatModel | None = None,
        clock: Callable[[], datetime] | None = None,
        config: Any = None,
        **settings: Any,
    ) -> None:
        self.db = Database(database_url)
        self.artifacts = ArtifactStore(self.db)
        self._model = get_chat_model(model)
        self._clock = clock or utcnow
        self.settings = settings
        """RunContext fields every run of this client gets (limits, batch sizes, user)."""
        self._saver: Any = None
        self._graphs: dict[str, Any] = {}
        self._config_source = config
        """The queue's configuration: a `QueueConfig` or a lockstep.yaml path (see `queue`)."""
        self._queue: Any = None

    @property
    def checkpointer(self) -> Any:
        if self._saver is None:
            self._saver = open_checkpointer(self.db.url)
        return self._saver

    def graph(self, workflow: str) -> Any:
        """The workflow's compiled graph on this client's checkpointer."""
        if workflow not in self._graphs:
            self._graphs[workflow] = workflow_module(workflow).build_graph(self.checkpointer)
        return self._graphs[workflow]

    def context(self) -> RunContext:
        settings = dict(self.settings)
        if self._queue is not None:  # an open queue's notify targets serve the notify action
            settings.setdefault("queue_config", getattr(self._queue, "config", None))
        return RunContext(
            db=self.db,
            artifacts=self.artifacts,
            model=self._model,
            clock=self._clock,
            **settings,
        )

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def _workflow_of(self, thread_id: str) -> str:
        row = self.db.thread(thread_id)
        if row is None:
            raise ThreadNotFound(thread_id)
        return str(row["workflow"])

    def _drive(
        self, workflow: str, payload: Any, thread_id: str, on_update: OnUpdate | None
    ) -> None:
        graph = self.graph(workflow)
        try:
            for chunk in graph.stream(
                payload,
                self._config(thread_id),
                context=self.context(),
                stream_mode="updates",
                durability="sync",
            ):
                for node, update in chunk.items():
                    if on_update is not None and isinstance(update, Mapping):
                        on_update(node, update)
        except LockstepError:
            raise
        except Exception as exc:
            if not self._route_failure(workflow, thread_id, exc, on_update):
                raise
            self._drive(workflow, None, thread_id, on_update)

    def _route_failure(
        self, workflow: str, thread_id: str, exc: Exception, on_update: OnUpdate | None
    ) -> bool:
        """A step failed after its retries: take the machine's `step_failed` (or, for a
        timed-out step, `timeout`) transition from that step, recording the error, if it
        declares one (else the caller re-raises and the thread stays resumable at that step)."""
        current = self.status(thread_id)
        at = self._clock().isoformat()
        route = failure_route(workflow, current, self.values(thread_id), exc, at)
        if route is None:
            return False
        node, command, entry, error = route
        self.graph(workflow).update_state(self._config(thread_id), command, as_node=node)
        self.db.record(thread_id, "transition", {**entry, "error": error}, f"step:{node}")
        if on_update is not None:
            on_update(node, {"transitions": [entry]})
        return True

    def status(self, thread_id: str) -> ThreadStatus:
        """The thread's state, pending gate, counters and last transitions."""
        workflow = self._workflow_of(thread_id)
        snapshot = self.graph(workflow).get_state(self._config(thread_id))
        return status_of(thread_id, workflow, snapshot)

    def values(self, thread_id: str) -> dict[str, Any]:
        """The thread's full current state values."""
        workflow = self._workflow_of(thread_id)
        return dict(self.graph(workflow).get_state(self._config(thread_id)).values or {})

    def _superseded_checkpoints(self, thread_id: str) -> set[str]:
        rows = self.db.query(
            "SELECT checkpoint_id FROM lockstep_checkpoint_marks WHERE thread_id = ?",
            (thread_id,),
        )
        return {r["checkpoint_id"] for r in rows}

    def resume(
        self,
        thread_id: str,
        decision: str | None = None,
        *,
        comment: str | None = None,
        by: str | None = None,
        on_update: OnUpdate | None = None,
        **fields: Any,
    ) -> ThreadStatus:
        """Defined by `Lockstep`; declared here for the parts that answer gates."""
        raise NotImplementedError

    def close(self) -> None:
        if self._saver is not None:
            close_checkpointer(self._saver)
            self._saver = None
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refs_in(value: Any) -> list[ArtifactRef]:
    """Every ArtifactRef inside a state's values (dicts with id, version and sha256)."""
    if isinstance(value, Mapping):
        if {"id", "version", "sha256"} <= set(value):
            return [{"id": value["id"], "version": value["version"], "sha256": value["sha256"]}]
        return [r for v in value.values() for r in refs_in(v)]
    if isinstance(value, list):
        return [r for v in value for r in refs_in(v)]
    return []
