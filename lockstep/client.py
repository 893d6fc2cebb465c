"""`Lockstep`: the one client the CLI, the server and notebooks use to run and inspect threads.

It owns the database (checkpointer, artifacts, audit log) behind one URL, refuses what would
silently go wrong in LangGraph (resuming an unknown or finished thread restarts it from the
start), and reports a thread's place from its checkpoint alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.types import Command

from lockstep.agents.models import get_chat_model
from lockstep.artifacts.store import Artifact, ArtifactStore
from lockstep.checkpointers import close_checkpointer, open_checkpointer
from lockstep.db import Database
from lockstep.errors import ArtifactError, InvalidDecision, ThreadNotFound, ThreadStateError
from lockstep.graphs import workflow_module
from lockstep.graphs.context import RunContext, utcnow
from lockstep.machine import decision_problem

__all__ = ["Lockstep", "ThreadStatus"]

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

    @property
    def waiting(self) -> bool:
        return self.gate is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        **settings: Any,
    ) -> None:
        self.db = Database(database_url)
        self.artifacts = ArtifactStore(self.db)
        self._model = get_chat_model(model)
        self._clock = clock or utcnow
        self._settings = settings
        self._saver: Any = None
        self._graphs: dict[str, Any] = {}

    # -- plumbing --------------------------------------------------------------------------

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
            **self._settings,
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
        module = workflow_module(workflow)
        payload = module.check_inputs(inputs)
        thread_id = thread_id or uuid.uuid4().hex
        if self.db.thread(thread_id) is not None:
            raise ThreadStateError(f"thread {thread_id!r} already exists; use resume")
        self.db.register_thread(thread_id, workflow, self._clock().isoformat(), payload, created_by)
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
        **fields: Any,
    ) -> ThreadStatus:
        """Continue a thread from its last checkpoint: answer its pending gate with `decision`,
        or, after a crash, re-run the step that was interrupted (completed steps are not)."""
        workflow = self._workflow_of(thread_id)
        current = self.status(thread_id)
        if current.final:
            raise ThreadStateError(
                f"thread {thread_id} is {current.status}; there is nothing to resume"
            )
        if not current.next:
            raise ThreadStateError(f"thread {thread_id} has no checkpoint to resume from")
        if current.gate is None:
            if decision is not None:
                raise ThreadStateError(
                    f"thread {thread_id} is not waiting at a gate (interrupted in "
                    f"{', '.join(current.next)}); resume it without a decision"
                )
            self._drive(workflow, None, thread_id, on_update)
            return self.status(thread_id)
        gate = current.gate
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
            workflow_module(workflow).check_inputs({"sources": [answer["sources"]]})
        self._drive(workflow, Command(resume={gate["interrupt_id"]: answer}), thread_id, on_update)
        return self.status(thread_id)

    # -- inspecting ------------------------------------------------------------------------

    def status(self, thread_id: str) -> ThreadStatus:
        """The thread's state, pending gate, counters and last transitions."""
        workflow = self._workflow_of(thread_id)
        snapshot = self.graph(workflow).get_state(self._config(thread_id))
        values = snapshot.values or {}
        machine = workflow_module(workflow).MACHINE
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
        )

    def values(self, thread_id: str) -> dict[str, Any]:
        """The thread's full current state values."""
        workflow = self._workflow_of(thread_id)
        return dict(self.graph(workflow).get_state(self._config(thread_id)).values or {})

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """Every checkpoint of the thread, newest first: id, step, state, next, time."""
        workflow = self._workflow_of(thread_id)
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
                }
            )
        return rows

    def transitions(self, thread_id: str) -> list[dict[str, str]]:
        """The whole transition log kept in the thread's state."""
        return list(self.values(thread_id).get("transitions") or [])

    def artifacts_of(self, thread_id: str) -> list[Artifact]:
        self._workflow_of(thread_id)
        return self.artifacts.list(thread_id)

    def artifact(self, thread_id: str, name: str = "final") -> tuple[Artifact, bytes]:
        """The latest version of a thread's named artifact and its verified content."""
        self._workflow_of(thread_id)
        meta = self.artifacts.latest(thread_id, name)
        if meta is None:
            raise ArtifactError(f"thread {thread_id} has no {name!r} artifact yet")
        return meta, self.artifacts.read(meta)

    def audit(self, thread_id: str) -> list[dict[str, Any]]:
        self._workflow_of(thread_id)
        return self.db.audit(thread_id)

    def threads(self) -> Iterator[dict[str, Any]]:
        yield from self.db.threads()

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
