"""`Lockstep`: the one client the CLI, the server and notebooks use to run and inspect threads.

It owns the database (checkpointer, artifacts, audit log) behind one URL, refuses what would
silently go wrong in LangGraph (resuming an unknown or finished thread restarts it from the
start), and reports a thread's place from its checkpoint alone. Its gates, recovery and
retention methods live in `lockstep.gates`, `lockstep.recovery` and `lockstep.retention`;
the plumbing they share in `lockstep.threads`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lockstep.artifacts.store import Artifact, diff_artifacts, verify_export
from lockstep.errors import (
    ArtifactError,
    ConfigError,
)
from lockstep.gates import Gates, claim_gate
from lockstep.graphs import WORKFLOWS
from lockstep.ids import check_id
from lockstep.recovery import Recovery
from lockstep.retention import Retention
from lockstep.threads import (
    OnUpdate,
    ThreadStatus,
    resume_payload,
    start_payload,
    whole_log,
)

__all__ = ["Lockstep", "ThreadStatus", "set_queue_factory"]

QueueFactory = Callable[["Lockstep", Any], Any]
_queue_factory: QueueFactory | None = None


def set_queue_factory(factory: QueueFactory) -> None:
    """How `Lockstep.queue` opens a queue: registered by `lockstep.queue` on import."""
    global _queue_factory
    _queue_factory = factory


class Lockstep(Gates, Recovery, Retention):
    """Run, resume and inspect workflow threads stored behind one database URL.

    >>> ls = Lockstep("sqlite:///.lockstep/lockstep.db")
    >>> st = ls.run("brief", topic="Short-term rentals", sources=["examples/corpus"])
    >>> ls.resume(st.thread_id, "approve", by="ana")     # when it waits at a gate
    """

    @property
    def queue(self) -> Any:
        """The job queue on this database (a `JobQueue`), configured from `config` (else
        `lockstep.yaml`). The queue layer sits above the client and registers how to open
        it (`set_queue_factory`) when it is imported, so the client never imports it."""
        if self._queue is None:
            if _queue_factory is None:
                raise ConfigError("the job queue is not loaded: import lockstep.queue first")
            self._queue = _queue_factory(self, self._config_source)
        return self._queue

    def graph(self, workflow: str) -> Any:
        """The workflow's compiled graph; a workflow that is not registered yet is looked for
        in the configuration (`workflows:`), so `status`/`history` of a thread of a custom
        workflow work from any command, not only from the ones that read the queue."""
        if workflow not in WORKFLOWS and _queue_factory is not None:
            self.queue  # noqa: B018 - loading the configuration registers its workflows
        return super().graph(workflow)

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
        elif not current.final and not current.waiting:  # a step's writes saved, the checkpoint
            self._drive(workflow, None, thread_id, on_update)  # after it cut off: apply them
        return self.status(thread_id)

    def history(
        self, thread_id: str, *, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        """The thread's checkpoints, newest first: id, step, state, next, time. A page of
        `limit` rows older than checkpoint `before` (the last row of the previous page);
        every checkpoint when both are None. A page costs its own rows, not the thread's
        length."""
        workflow = self._workflow_of(thread_id)
        superseded = self._superseded_checkpoints(thread_id)
        rows = []
        older = None
        if before is not None:
            older = {"configurable": {"checkpoint_id": check_id(before, "checkpoint")}}
        snaps = self.graph(workflow).get_state_history(
            self._config(thread_id), limit=limit, before=older
        )
        for snap in snaps:
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

    def transitions(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's whole transition log along its live history (state keeps only a
        tail; the journal keeps every entry)."""
        tail = list(self.values(thread_id).get("transitions") or [])
        rows = self.db.query(
            "SELECT detail FROM lockstep_audit WHERE thread_id = ? AND kind = 'transition' "
            "ORDER BY seq",
            (thread_id,),
        )
        return whole_log(tail, [json.loads(r["detail"]) for r in rows])

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
