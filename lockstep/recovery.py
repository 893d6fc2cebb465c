"""Operator recovery: `rollback` (LangGraph time travel into a fork), `escalate` (to the
review gate now) and `abandon` (final, work in progress saved as incomplete artifacts);
each journaled with who and why."""

from __future__ import annotations

import re
from typing import Any

from langgraph.graph import END
from langgraph.types import Command

from lockstep.errors import (
    ThreadStateError,
)
from lockstep.graphs import workflow_machine, workflow_module
from lockstep.state.machine import log_entry
from lockstep.threads import (
    OnUpdate,
    ThreadsBase,
    ThreadStatus,
    refs_in,
)

__all__ = ["Recovery"]


class Recovery(ThreadsBase):
    """`Lockstep.rollback`, `escalate`, `abandon` and `save_partial`."""

    def save_partial(self, thread_id: str, *, by: str, step: str = "abandon") -> list[str]:
        """Save the work in progress the thread's state points to as `incomplete` artifact
        versions (abandon, cancel and timeouts call this); returns `name@version` of each."""
        workflow = self._workflow_of(thread_id)
        values = self.values(thread_id)
        saved: list[str] = []
        keys = getattr(workflow_module(workflow), "PARTIAL_WORK", None) or list(values)
        for ref in refs_in([values.get(k) for k in keys]):
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
        at = self._clock().isoformat()
        entry = log_entry(current.transitions, current.status, "escalated", gate, at)
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
        at = self._clock().isoformat()
        entry = log_entry(current.transitions, current.status, "abandoned", target, at)
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
