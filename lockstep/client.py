"""`Lockstep`: the one client the CLI, the server and notebooks use to run and inspect threads.

It owns the database (checkpointer, artifacts, audit log) behind one URL, refuses what would
silently go wrong in LangGraph (resuming an unknown or finished thread restarts it from the
start), and reports a thread's place from its checkpoint alone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langgraph.errors import NodeTimeoutError
from langgraph.graph import END
from langgraph.types import Command

from lockstep.agents.models import get_chat_model
from lockstep.artifacts.store import Artifact, ArtifactStore, diff_artifacts, verify_export
from lockstep.checkpointers import close_checkpointer, open_checkpointer
from lockstep.db import Database
from lockstep.errors import (
    ArtifactError,
    ConfigError,
    InvalidDecision,
    LockstepError,
    ThreadNotFound,
    ThreadStateError,
)
from lockstep.graphs import workflow_machine, workflow_module
from lockstep.graphs.context import RunContext, utcnow
from lockstep.ids import check_id
from lockstep.machine import decision_problem
from lockstep.machine.compile import FAILURE_EVENT, TIMEOUT_EVENT, entry_of
from lockstep.state.machine import ArtifactRef, total_tokens

if TYPE_CHECKING:
    from lockstep.queue.config import QueueConfig
    from lockstep.queue.store import JobQueue

__all__ = [
    "Lockstep",
    "ThreadStatus",
    "claim_gate",
    "failure_route",
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
    transitions: list[dict[str, str]] = field(default_factory=list)
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
    is_final = (
        not snapshot.next
        and machine.states.get(status) is not None
        and (machine.states[status].type == "final")
    )
    return ThreadStatus(
        thread_id=thread_id,
        workflow=workflow,
        status=status,
        final=is_final,
        gate=gate,
        interrupted=bool(snapshot.next) and gate is None,
        next=list(snapshot.next),
        counters=dict(values.get("counters") or {}),
        transitions=list(values.get("transitions") or [])[-10:],
        error=values.get("error"),
        rejection_reason=values.get("rejection_reason"),
        checkpoint_id=(snapshot.config or {}).get("configurable", {}).get("checkpoint_id"),
        updated_at=snapshot.created_at,
        usage=dict(values.get("usage") or {}),
    )


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
) -> tuple[str, Command[Any], dict[str, str], str] | None:
    """How the machine takes a step's failure after its retries: `(node, command, entry,
    error)`, the
    command going to the step's declared `timeout` target when LangGraph's `TimeoutPolicy`
    cut the step short, else to its `step_failed` target; None when it declares neither (the
    error surfaces and the thread stays resumable at that step). Shared by both clients."""
    if not current.next or current.gate is not None:
        return None
    node = str(current.next[0]).split(".")[0]  # a failed branch fails its step
    machine = workflow_machine(workflow)
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
    entry = {"from": node, "event": event, "to": transition.target, "at": at}
    command: Command[Any] = Command(
        goto=entry_of(machine, transition.target),
        update={"status": transition.target, "transitions": [entry], "error": error},
    )
    return node, command, entry, error


def claim_gate(db: Database, current: ThreadStatus, decision: str, by: str | None) -> None:
    """Record that `by` answers the pending gate; the database decides who came first, so a
    second answer to the same gate (a sweep racing a person) is refused, changing nothing."""
    gate = current.gate
    assert gate is not None
    at = datetime.now(UTC).isoformat()
    # ON CONFLICT rather than catching the violation: it also works inside a transaction
    # (a Postgres transaction is unusable after an error), so a caller can claim the gate and
    # queue its continuation atomically.
    won = db.rowcount(
        "INSERT INTO lockstep_gate_answers (thread_id, interrupt_id, decision, by_name, at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, interrupt_id) DO NOTHING",
        (current.thread_id, gate["interrupt_id"], decision, by or "unknown", at),
    )
    if not won:
        row = db.query(
            "SELECT decision, by_name, at FROM lockstep_gate_answers"
            " WHERE thread_id = ? AND interrupt_id = ?",
            (current.thread_id, gate["interrupt_id"]),
        )[0]
        raise InvalidDecision(
            f"gate {gate['gate']!r} of thread {current.thread_id} was already answered "
            f"{row['decision']!r} by {row['by_name']} at {row['at'][:19]}"
        )


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


class Lockstep:
    """Run, resume and inspect workflow threads stored behind one database URL.

    >>> ls = Lockstep("sqlite:///.lockstep/lockstep.db")
    >>> st = ls.run("brief", topic="Short-term rentals", sources=["examples/corpus"])
    >>> ls.resume(st.thread_id, "approve", by="ana")     # when it waits at a gate
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        model: str | BaseChatModel | None = None,
        clock: Callable[[], datetime] | None = None,
        config: QueueConfig | str | Path | None = None,
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
        self._queue: JobQueue | None = None

    # -- plumbing --------------------------------------------------------------------------

    @property
    def queue(self) -> JobQueue:
        """The job queue on this database, configured from `config` (else `lockstep.yaml`)."""
        if self._queue is None:
            from lockstep.queue.config import QueueConfig, load_config
            from lockstep.queue.store import JobQueue

            source = self._config_source
            config = source if isinstance(source, QueueConfig) else load_config(source)
            self._queue = JobQueue(self.db, config, client=self)
        return self._queue

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
        return RunContext(
            db=self.db,
            artifacts=self.artifacts,
            model=self._model,
            clock=self._clock,
            **self.settings,
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

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        workflow: str,
        *,
        thread_id: str | None = None,
        on_update: OnUpdate | None = None,
        created_by: str | None = None,
        **inputs: Any,
    ) -> ThreadStatus:
        """Start a new thread and run it until it completes, is rejected or waits at a gate."""
        thread_id, payload = start_payload(
            self.db, workflow, thread_id, self._clock().isoformat(), created_by, inputs
        )
        self._drive(workflow, payload, thread_id, on_update)
        return self.status(thread_id)

    def resume(
        self,
        thread_id: str,
        decision: str | None = None,
        *,
        comment: str | None = None,
        by: str | None = None,
        on_update: OnUpdate | None = None,
        gate_claimed: bool = False,
        **fields: Any,
    ) -> ThreadStatus:
        """Continue a thread from its last checkpoint: answer its pending gate with `decision`,
        or, after a crash, re-run the step that was interrupted (completed steps are not)."""
        current = self.status(thread_id)
        payload = resume_payload(current, decision, comment=comment, by=by, **fields)
        if payload is None:
            self.db.record(thread_id, "resume", {"next": list(current.next)}, by or "unknown")
        elif not gate_claimed:
            claim_gate(self.db, current, str(decision), by)
        self._drive(current.workflow, payload, thread_id, on_update)
        return self.status(thread_id)

    def continue_run(
        self,
        workflow: str,
        thread_id: str,
        inputs: Mapping[str, Any],
        *,
        created_by: str | None = None,
        on_update: OnUpdate | None = None,
    ) -> ThreadStatus:
        """Run a thread as far as it goes from wherever it is: start it when new (or when it
        was registered but never checkpointed), re-run the step a crash interrupted, and leave
        it alone when it waits at a gate or is final. Never restarts a started thread, so a
        job taken over after a worker died carries on from its last checkpoint."""
        if self.db.thread(thread_id) is None:
            return self.run(
                workflow, thread_id=thread_id, on_update=on_update, created_by=created_by, **inputs
            )
        current = self.status(thread_id)
        if current.checkpoint_id is None:
            row = self.db.thread(thread_id) or {}
            self._drive(workflow, json.loads(row.get("input") or "{}"), thread_id, on_update)
        elif current.interrupted:
            self.resume(thread_id, by=created_by or "worker", on_update=on_update)
        return self.status(thread_id)

    def save_partial(self, thread_id: str, *, by: str, step: str = "abandon") -> list[str]:
        """Save the work in progress the thread's state points to as `incomplete` artifact
        versions (abandon, cancel and timeouts call this); returns `name@version` of each."""
        workflow = self._workflow_of(thread_id)
        values = self.values(thread_id)
        saved: list[str] = []
        keys = getattr(workflow_module(workflow), "PARTIAL_WORK", None) or list(values)
        for ref in _refs([values.get(k) for k in keys]):
            meta = self.artifacts.meta(ref["id"], ref["version"])
            if meta.status != "complete" or meta.name == "final":
                continue
            new = self.artifacts.put(
                thread_id,
                meta.name,
                self.artifacts.read(meta),
                step=step,
                created_by=by,
                inputs=[ref],
                format=meta.format,
                status="incomplete",
            )
            saved.append(f"{meta.name}@{new['version']}")
        return saved

    # -- inspecting ------------------------------------------------------------------------

    def status(self, thread_id: str) -> ThreadStatus:
        """The thread's state, pending gate, counters and last transitions."""
        workflow = self._workflow_of(thread_id)
        snapshot = self.graph(workflow).get_state(self._config(thread_id))
        return status_of(thread_id, workflow, snapshot)

    def values(self, thread_id: str) -> dict[str, Any]:
        """The thread's full current state values."""
        workflow = self._workflow_of(thread_id)
        return dict(self.graph(workflow).get_state(self._config(thread_id)).values or {})

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """Every checkpoint of the thread, newest first: id, step, state, next, time."""
        workflow = self._workflow_of(thread_id)
        superseded = self._superseded_checkpoints(thread_id)
        rows = []
        for snap in self.graph(workflow).get_state_history(self._config(thread_id)):
            rows.append(
                {
                    "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
                    "step": (snap.metadata or {}).get("step"),
                    "source": (snap.metadata or {}).get("source"),
                    "status": (snap.values or {}).get("status"),
                    "next": list(snap.next),
                    "created_at": snap.created_at,
                    "superseded": snap.config["configurable"]["checkpoint_id"] in superseded,
                }
            )
        return rows

    def transitions(self, thread_id: str) -> list[dict[str, str]]:
        """The whole transition log kept in the thread's state."""
        return list(self.values(thread_id).get("transitions") or [])

    def artifacts_of(self, thread_id: str) -> list[Artifact]:
        self._workflow_of(thread_id)
        return self.artifacts.of_thread(thread_id)

    def artifact(self, thread_id: str, name: str = "final") -> tuple[Artifact, bytes]:
        """The latest version of a thread's named artifact and its verified content."""
        self._workflow_of(thread_id)
        meta = self.artifacts.latest_complete(thread_id, name)
        if meta is None:
            latest = self.artifacts.latest(thread_id, name)
            why = f" (latest {latest.name}@{latest.version} is {latest.status})" if latest else ""
            raise ArtifactError(f"thread {thread_id} has no {name!r} artifact yet{why}")
        return meta, self.artifacts.read(meta)

    def audit(self, thread_id: str) -> list[dict[str, Any]]:
        self._workflow_of(thread_id)
        return self.db.audit(thread_id)

    def threads(self) -> Iterator[dict[str, Any]]:
        yield from self.db.threads()

    # -- gates and deadlines ---------------------------------------------------------------

    def gates(self, *, overdue: bool = False) -> list[dict[str, Any]]:
        """Every thread waiting at a gate, with its payload and deadline; `overdue` keeps only
        those past their deadline (by this client's clock)."""
        now = self._clock().isoformat()
        waiting = []
        for row in self.db.threads():
            status = self.status(row["thread_id"])
            if status.gate is None:
                continue
            deadline = status.gate.get("deadline")
            late = bool(deadline and deadline < now)
            if overdue and not late:
                continue
            waiting.append(
                {
                    "thread_id": status.thread_id,
                    "workflow": status.workflow,
                    "owner": row.get("created_by"),
                    "overdue": late,
                    **status.gate,
                }
            )
        return waiting

    def sweep(self, *, by: str = "sweeper") -> list[dict[str, str]]:
        """Answer every overdue gate with its `timeout` decision. Idempotent: a gate someone
        answered first (even in the same instant) is skipped, never escalated too."""
        outcomes = []
        for gate in self.gates(overdue=True):
            if "timeout" not in gate["decisions"]:
                continue
            try:
                status = self.resume(gate["thread_id"], "timeout", by=by)
            except (InvalidDecision, ThreadStateError) as exc:
                outcomes.append(
                    {
                        "thread_id": gate["thread_id"],
                        "gate": gate["gate"],
                        "outcome": "skipped",
                        "reason": str(exc),
                    }
                )
                continue
            outcomes.append(
                {
                    "thread_id": gate["thread_id"],
                    "gate": gate["gate"],
                    "outcome": "timed_out",
                    "status": status.status,
                }
            )
        return outcomes

    # -- artifacts (issue 5) ---------------------------------------------------------------

    def artifact_meta(self, spec: str) -> Artifact:
        """Metadata of `ID` (latest version) or `ID@VERSION`."""
        return self.artifacts.get(spec)

    def artifact_content(self, spec: str) -> tuple[Artifact, bytes]:
        """Metadata and verified content of `ID[@VERSION]`."""
        meta = self.artifacts.get(spec)
        return meta, self.artifacts.read(meta)

    def artifact_diff(self, old: str, new: str) -> str:
        """Unified diff of two versions (text), or a key-level diff (JSON)."""
        a, a_bytes = self.artifact_content(old)
        b, b_bytes = self.artifact_content(new)
        return diff_artifacts(a, a_bytes, b, b_bytes)

    def lineage(self, spec: str) -> dict[str, Any]:
        """Ancestors and descendants of `ID[@VERSION]`."""
        return self.artifacts.lineage(spec)

    def export(self, thread_id: str, directory: str | Path) -> dict[str, Any]:
        """Every artifact version of a thread as files plus manifest.json in `directory`."""
        self._workflow_of(thread_id)
        return self.artifacts.export(thread_id, directory)

    @staticmethod
    def verify_export(directory: str | Path) -> list[str]:
        """Problems found re-hashing an export against its manifest (empty when intact)."""
        return verify_export(directory)

    # -- recovery (issue 5): rollback, escalate, abandon -----------------------------------

    def _superseded_checkpoints(self, thread_id: str) -> set[str]:
        rows = self.db.query(
            "SELECT checkpoint_id FROM lockstep_checkpoint_marks WHERE thread_id = ?",
            (thread_id,),
        )
        return {r["checkpoint_id"] for r in rows}

    def _chain(self, workflow: str, thread_id: str) -> list[Any]:
        """The head's ancestry (newest first): the live history, without superseded branches."""
        snaps = list(self.graph(workflow).get_state_history(self._config(thread_id)))
        by_id = {s.config["configurable"]["checkpoint_id"]: s for s in snaps}
        chain: list[Any] = []
        current = snaps[0] if snaps else None
        while current is not None:
            chain.append(current)
            parent = (current.parent_config or {}).get("configurable", {}).get("checkpoint_id")
            current = by_id.get(parent) if parent else None
        return chain

    def _operator_node(self, current: ThreadStatus) -> str:
        """The node an operator action is recorded as: the one whose turn it is."""
        if current.next:
            return str(current.next[0])
        return workflow_machine(current.workflow).initial

    def rollback(
        self,
        thread_id: str,
        *,
        to: str | None = None,
        state: str | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> ThreadStatus:
        """Fork the thread from an earlier checkpoint (`to`, or the latest entry into `state`):
        later checkpoints are kept but marked superseded, so are artifacts written after that
        point, and the head moves to the fork. `resume` then continues from there."""
        workflow = self._workflow_of(thread_id)
        if (to is None) == (state is None):
            raise ThreadStateError("rollback needs exactly one of a checkpoint id or a state")
        current = self.status(thread_id)
        if current.status == "abandoned":
            raise ThreadStateError(f"thread {thread_id} was abandoned; it cannot be rolled back")
        chain = self._chain(workflow, thread_id)
        if not chain:
            raise ThreadStateError(f"thread {thread_id} has no checkpoints to roll back to")
        head = chain[0]
        if state is not None:
            machine = workflow_module(workflow).MACHINE
            if state not in machine.states:
                raise ThreadStateError(f"workflow {workflow} has no state {state!r}")
            target = next(
                (
                    snap
                    for snap, older in zip(chain, [*chain[1:], None], strict=True)
                    if list(snap.next) == [state]
                    and (older is None or (older.values or {}).get("status") != state)
                    and snap is not head
                ),
                None,
            )
            if target is None:
                raise ThreadStateError(
                    f"thread {thread_id} has no earlier checkpoint entering {state!r}"
                )
        else:
            assert to is not None
            if not re.fullmatch(r"[0-9a-fA-F-]{1,64}", to):
                raise ThreadStateError(f"invalid checkpoint id {to!r}")
            ids = {s.config["configurable"]["checkpoint_id"]: s for s in chain}
            if to == head.config["configurable"]["checkpoint_id"]:
                raise ThreadStateError(f"checkpoint {to} is already the head of {thread_id}")
            if to not in ids:
                found = self.checkpointer.get_tuple(
                    {
                        "configurable": {
                            "thread_id": thread_id,
                            "checkpoint_ns": "",
                            "checkpoint_id": to,
                        }
                    }
                )
                if found is None:
                    raise ThreadStateError(f"checkpoint {to} is not in thread {thread_id}")
                raise ThreadStateError(
                    f"checkpoint {to} is not an earlier point of {thread_id}'s current history"
                    " (it is on a superseded branch)"
                )
            target = ids[to]
        if not target.next:
            raise ThreadStateError("that checkpoint has nothing left to run")
        target_id = target.config["configurable"]["checkpoint_id"]
        now = self._clock().isoformat()
        later = [
            s.config["configurable"]["checkpoint_id"]
            for s in self.graph(workflow).get_state_history(self._config(thread_id))
            if (s.created_at or "") > (target.created_at or "")
        ]
        fork = self.graph(workflow).update_state(target.config, None, as_node="__copy__")
        # the fork may stop at a gate that was answered on the superseded branch: answerable again
        self.db.execute("DELETE FROM lockstep_gate_answers WHERE thread_id = ?", (thread_id,))
        for checkpoint_id in later:
            self.db.execute(
                "INSERT INTO lockstep_checkpoint_marks (thread_id, checkpoint_id, mark, at) "
                "VALUES (?, ?, 'superseded', ?) ON CONFLICT (thread_id, checkpoint_id) DO NOTHING",
                (thread_id, checkpoint_id, now),
            )
        dropped = self.artifacts.supersede_after(thread_id, target.created_at or "", now)
        self.db.record(
            thread_id,
            "rollback",
            {
                "to": target_id,
                "state": (target.values or {}).get("status"),
                "fork": fork["configurable"]["checkpoint_id"],
                "reason": reason,
                "superseded_checkpoints": len(later),
                "superseded_artifacts": [a.label for a in dropped],
            },
            by or "unknown",
        )
        return self.status(thread_id)

    def escalate(
        self,
        thread_id: str,
        *,
        reason: str,
        by: str | None = None,
        on_update: OnUpdate | None = None,
    ) -> ThreadStatus:
        """Halt the thread and route it to its workflow's human review gate now; the status
        and transition log record the escalation, and the thread then waits at that gate."""
        workflow = self._workflow_of(thread_id)
        module = workflow_module(workflow)
        machine = module.MACHINE
        gate = getattr(module, "REVIEW_GATE", "human_review")
        if gate not in machine.states or machine.states[gate].type != "human_gate":
            raise ThreadStateError(f"workflow {workflow} has no human review gate to escalate to")
        if not (reason or "").strip():
            raise ThreadStateError("escalate needs a reason")
        current = self.status(thread_id)
        if current.final:
            raise ThreadStateError(f"thread {thread_id} is {current.status}; nothing to escalate")
        if current.gate and current.gate["gate"] == gate:
            raise ThreadStateError(f"thread {thread_id} is already waiting at {gate!r}")
        entry = {
            "from": current.status,
            "event": "escalated",
            "to": gate,
            "at": self._clock().isoformat(),
        }
        self.graph(workflow).update_state(
            self._config(thread_id),
            Command(goto=gate, update={"status": gate, "transitions": [entry]}),
            as_node=self._operator_node(current),
        )
        actor = by or "unknown"
        self.db.record(thread_id, "transition", entry, actor)
        self.db.record(
            thread_id, "escalate", {"reason": reason, "from": current.status, "to": gate}, actor
        )
        self._drive(workflow, None, thread_id, on_update)
        return self.status(thread_id)

    def abandon(self, thread_id: str, *, reason: str, by: str | None = None) -> ThreadStatus:
        """Mark the thread abandoned (a final state: no more resumes), saving the work its
        state points to as `incomplete` artifact versions; journals an `abandoned` event."""
        workflow = self._workflow_of(thread_id)
        machine = workflow_module(workflow).MACHINE
        if not (reason or "").strip():
            raise ThreadStateError("abandon needs a reason")
        current = self.status(thread_id)
        if current.final:
            raise ThreadStateError(f"thread {thread_id} is {current.status}; nothing to abandon")
        target = "abandoned" if "abandoned" in machine.states else machine.error_state
        actor = by or "unknown"
        saved = self.save_partial(thread_id, by=actor)
        entry = {
            "from": current.status,
            "event": "abandoned",
            "to": target,
            "at": self._clock().isoformat(),
        }
        self.graph(workflow).update_state(
            self._config(thread_id),
            Command(goto=END, update={"status": target, "transitions": [entry]}),
            as_node=self._operator_node(current),
        )
        self.db.record(thread_id, "transition", entry, actor)
        self.db.record(
            thread_id,
            "abandoned",
            {"reason": reason, "from": current.status, "saved": saved},
            actor,
        )
        return self.status(thread_id)

    # -- retention (issue 5) ---------------------------------------------------------------

    def _checkpoint_count(self, thread_id: str) -> int:
        rows = self.db.query(
            "SELECT COUNT(*) AS n FROM checkpoints WHERE thread_id = ?", (thread_id,)
        )
        return int(rows[0]["n"])

    def _prune_checkpoints(self, thread_id: str, keep_latest: bool) -> None:
        strategy = "keep_latest" if keep_latest else "delete"
        if self.db.dialect == "postgres":
            self.checkpointer.prune([thread_id], strategy=strategy)  # the saver's own prune
            return
        if not keep_latest:
            self.checkpointer.delete_thread(thread_id)
            return
        head = self.db.query(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        )
        if not head:
            return
        keep = head[0]["checkpoint_id"]
        for table in ("writes", "checkpoints"):
            self.db.execute(
                f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id <> ?", (thread_id, keep)
            )
        self.db.execute(
            "UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ?", (thread_id,)
        )

    def prune(
        self,
        older_than: timedelta,
        *,
        keep_latest: bool = False,
        dry_run: bool = False,
        artifacts: bool = False,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Delete checkpoints of finished threads idle for longer than `older_than` (all, or
        all but the latest). With `artifacts=True` also their artifacts, and the blobs only
        those held; the audit log always stays. Running and waiting threads are never touched."""
        cutoff = self._clock() - older_than
        report: dict[str, Any] = {
            "cutoff": cutoff.isoformat(),
            "dry_run": dry_run,
            "threads": [],
            "skipped": [],
        }
        for row in self.db.threads():
            thread_id = row["thread_id"]
            st = self.status(thread_id)
            if st.updated_at is not None and datetime.fromisoformat(st.updated_at) > cutoff:
                continue
            if not st.final and st.updated_at is not None:
                report["skipped"].append({"thread_id": thread_id, "status": st.status})
                continue
            before = self._checkpoint_count(thread_id)
            deleted = before - (1 if keep_latest and before else 0)
            removed_artifacts = len(self.artifacts.of_thread(thread_id)) if artifacts else 0
            if deleted <= 0 and not removed_artifacts:
                continue
            report["threads"].append(
                {"thread_id": thread_id, "checkpoints": deleted, "artifacts": removed_artifacts}
            )
            if dry_run:
                continue
            if deleted > 0:
                self._prune_checkpoints(thread_id, keep_latest)
            self.db.record(
                thread_id,
                "prune",
                {
                    "checkpoints": deleted,
                    "artifacts": removed_artifacts,
                    "keep_latest": keep_latest,
                },
                by or "unknown",
            )
        removed = {t["thread_id"] for t in report["threads"] if t["artifacts"]}
        dead = self._dead_blobs(removed)
        report["blobs"] = len(dead)
        if not dry_run:
            for thread_id in removed:  # rows first: a blob left behind is harmless, a row
                self.db.execute(  # pointing at a deleted blob is not
                    "DELETE FROM lockstep_artifacts WHERE thread_id = ?", (thread_id,)
                )
            for sha in dead:
                self.artifacts.blobs.delete(sha)
        return report

    def _blob_refs(self, rows: list[Artifact]) -> set[str]:
        """Blobs these artifacts hold: their own content, and any `sha256` field inside a JSON
        artifact (the research report's gathered sources are stored as blobs of their own)."""
        shas = {a.sha256 for a in rows}
        for a in rows:
            if a.format == "json":
                try:
                    shas |= _shas(self.artifacts.json(a))
                except (ArtifactError, ValueError):
                    continue
        return shas

    def _dead_blobs(self, removed: set[str]) -> list[str]:
        """Blobs that artifacts of the `removed` threads hold and no other artifact in this
        database does. Blobs this database never referenced are left alone, so a blob folder
        shared by mistake with another database loses nothing of the other's."""
        if not removed:
            return []
        everything = self.artifacts._rows("1 = 1", ())
        gone = self._blob_refs([a for a in everything if a.thread_id in removed])
        live = self._blob_refs([a for a in everything if a.thread_id not in removed])
        stored = {sha for sha, _ in self.artifacts.blobs.shas()}
        return sorted((gone - live) & stored)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        if self._saver is not None:
            close_checkpointer(self._saver)
            self._saver = None
        self.db.close()

    def __enter__(self) -> Lockstep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refs(value: Any) -> list[ArtifactRef]:
    """Every ArtifactRef inside a state's values (dicts with id, version and sha256)."""
    if isinstance(value, Mapping):
        if {"id", "version", "sha256"} <= set(value):
            return [{"id": value["id"], "version": value["version"], "sha256": value["sha256"]}]
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _shas(value: Any) -> set[str]:
    """Every `sha256` string field inside a JSON document."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == "sha256" and isinstance(v, str):
                found.add(v)
            else:
                found |= _shas(v)
    elif isinstance(value, list):
        for v in value:
            found |= _shas(v)
    return found


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `45s` or `2w` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not match:
        raise ConfigError(f"invalid age {text!r}: use a number and a unit, e.g. 7d, 12h, 30m")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})
