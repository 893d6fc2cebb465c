"""Jobs in the project's database: submit, claim with a lease, finish, retry, dead-letter,
cancel, and the lifecycle events of each.

A job runs one workflow thread. The thread's checkpoints are LangGraph's; the job row only says
who runs it (`lease_owner` until `lease_expires`), how often it was tried and how it ended. So
a worker that dies loses nothing: once its lease expires, the next claim takes the job over and
the thread resumes from its last checkpoint.

Claims, leases and reaping are compare-and-set on the job row, each claim under a fresh lease
token (`lockstep.queue.claims`); every time the queue compares is the database's clock
(`lockstep.queue.clock`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lockstep.client import Lockstep
from lockstep.db import Database
from lockstep.errors import JobNotFound, RateLimited, SubmitRefused
from lockstep.gates import claim_gate
from lockstep.queue import claims
from lockstep.queue.clock import NOW_SQL, db_now
from lockstep.queue.config import QueueConfig, load_config, parse_priority
from lockstep.queue.ends import EndHook, JobEnds, on_job_end
from lockstep.queue.jobs import (
    ACTIVE,
    EVENTS,
    FINAL,
    Job,
    backoff,
    check_status,
    iso,
)
from lockstep.queue.limits import RateLimiter, limit_key
from lockstep.threads import resume_payload

__all__ = [
    "ACTIVE",
    "FINAL",
    "EndHook",
    "Job",
    "JobQueue",
    "backoff",
    "check_status",
    "iso",
    "on_job_end",
]

log = logging.getLogger("lockstep.jobs")
"""One line per job event (`lockstep worker` shows them at INFO)."""


class JobQueue(JobEnds):
    """The queue on one database with one configuration; shared by CLI, server and workers."""

    @classmethod
    def of(cls, client: Lockstep, config: QueueConfig | str | Path | None = None) -> JobQueue:
        """The queue on `client`'s database, configured from `config` (else lockstep.yaml)."""
        loaded = config if isinstance(config, QueueConfig) else load_config(config)
        return cls(client.db, loaded, client=client)

    def __init__(
        self,
        db: Database,
        config: QueueConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
        client: Lockstep | None = None,
    ) -> None:
        self.db = db
        self.config = config or QueueConfig()
        self._own_clock = clock is not None
        self.clock: Callable[[], float] = clock or (lambda: db_now(self.db))
        """Unix seconds on the database's clock (a test may pass its own)."""
        self.limiter = RateLimiter(db, self.config.rate_limits, clock)
        self.client = client
        """The client on this database, to read an ended run's outputs (opened when needed)."""

    # -- events ----------------------------------------------------------------------------

    def event(
        self,
        job_id: str,
        kind: str,
        detail: Mapping[str, Any] | None = None,
        *,
        at: float | None = None,
    ) -> None:
        """Append one lifecycle event (the server streams these), timed `at` (default: now,
        on the database's clock)."""
        assert kind in EVENTS, kind
        when = "?" if at is not None or self._own_clock else NOW_SQL[self.db.dialect]
        self.db.execute(
            f"INSERT INTO lockstep_job_events (job_id, at, kind, detail) VALUES (?, {when}, ?, ?)",
            (
                job_id,
                *([at if at is not None else self.clock()] if when == "?" else []),
                kind,
                json.dumps(dict(detail or {}), default=str),
            ),
        )
        log.info("job %s %s %s", job_id, kind, json.dumps(dict(detail or {}), default=str))

    def events(self, job_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT seq, job_id, at, kind, detail FROM lockstep_job_events "
            "WHERE job_id = ? AND seq > ? ORDER BY seq",
            (job_id, after),
        )
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str, *, events: bool = False) -> Job:
        rows = self.db.query("SELECT * FROM lockstep_jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        job = Job.from_row(rows[0])
        if events:
            job.events = self.events(job_id)
        return job

    def find(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        thread_id: str | None = None,
        user: str | None = None,
        workflow: str | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[Job]:
        where, params = ["1 = 1"], []
        for column, value in (
            ("queue", queue),
            ("status", status),
            ("thread_id", thread_id),
            ("user_name", user),
            ("workflow", workflow),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        order = "seq DESC" if newest_first else "seq"
        rows = self.db.query(
            f"SELECT * FROM lockstep_jobs WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        return [Job.from_row(r) for r in rows]

    def feed(
        self, *, after: int = 0, user: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Events of every job (or of `user`'s jobs) after event `after`, oldest first: the
        server's live stream of a job list."""
        mine = " AND j.user_name = ?" if user is not None else ""
        rows = self.db.query(
            "SELECT e.seq, e.job_id, e.at, e.kind, e.detail FROM lockstep_job_events e "
            f"JOIN lockstep_jobs j ON j.id = e.job_id WHERE e.seq > ?{mine} ORDER BY e.seq LIMIT ?",
            (after, *([user] if user is not None else []), limit),
        )
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    def last_event_seq(self) -> int:
        """The newest event's number (0 when there is none): where a live feed starts."""
        rows = self.db.query("SELECT COALESCE(MAX(seq), 0) AS seq FROM lockstep_job_events")
        return int(rows[0]["seq"])

    def of_thread(self, thread_id: str) -> Job | None:
        """The newest job that runs `thread_id`, if the queue owns the thread."""
        jobs = self.find(thread_id=thread_id)
        return jobs[-1] if jobs else None

    # -- submitting ------------------------------------------------------------------------

    def submit(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: str | int | None = None,
        user: str | None = None,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        thread_id: str | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> Job:
        """Enqueue a run of `workflow`; returns the job (the existing one for a repeated
        idempotency key). Inputs are checked now, so bad input never reaches a worker.
        `resume` (a gate decision) continues an existing `thread_id` at its gate."""
        from lockstep.graphs import workflow_module

        qname, decl = self.config.queue(queue)
        prio = decl.priority if priority is None else parse_priority(priority)
        if idempotency_key:
            existing = self.db.query(
                "SELECT * FROM lockstep_jobs WHERE idempotency_key = ?", (idempotency_key,)
            )
            if existing:
                return Job.from_row(existing[0])
        # a continuation (`resume`) adopts a thread that was checked when it started; its
        # recorded input is never run again, so it is not re-checked (its paths may be
        # relative to another process's folder)
        module = workflow_module(workflow)
        payload = dict(inputs or {}) if resume else module.check_inputs(dict(inputs or {}))
        if parent_id is not None:
            self.get(parent_id)
        if resume is not None and (
            thread_id is None
            or self.db.thread(thread_id) is None
            or self.find(thread_id=thread_id, limit=1)
        ):  # adopting: a thread that exists and that no job runs yet
            raise SubmitRefused(
                f"a continuation needs an existing thread no job owns, not {thread_id!r}"
            )
        if (
            resume is None
            and thread_id is not None
            and (self.db.thread(thread_id) is not None or self.find(thread_id=thread_id, limit=1))
        ):  # a job starts a new thread; continuing one is `continue_thread`
            raise SubmitRefused(f"thread {thread_id!r} already exists: pick a new thread ID")
        job_id = uuid.uuid4().hex[:16]
        thread_id = thread_id or f"job-{job_id}"
        now = self.clock()
        with self.db.transaction():
            self._check_submit(workflow, user)
            written = self.db.insert_unique(
                "INSERT INTO lockstep_jobs (id, queue, workflow, priority, status, input, "
                "thread_id, user_name, idempotency_key, parent_id, attempts, max_retries, "
                "run_after, submitted_at, resume) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    job_id,
                    qname,
                    workflow,
                    prio,
                    json.dumps(payload, default=str),
                    thread_id,
                    user,
                    idempotency_key or None,
                    parent_id,
                    self.config.max_retries(qname),
                    now,
                    now,
                    json.dumps(dict(resume), default=str) if resume else None,
                ),
            )
            if written:
                self.event(job_id, "submitted", {"queue": qname, "priority": prio, "by": user})
        if not written:  # another submitter with the same key won the race
            rows = self.db.query(
                "SELECT * FROM lockstep_jobs WHERE idempotency_key = ?", (idempotency_key,)
            )
            return Job.from_row(rows[0])
        return self.get(job_id)

    def _check_submit(self, workflow: str, user: str | None) -> None:
        limit = self.config.concurrency.workflows.get(workflow)
        if limit is not None and limit.behavior == "reject" and limit.effective is not None:
            active = self._count("workflow = ? AND status IN ('queued', 'running')", (workflow,))
            if active >= limit.effective:
                raise SubmitRefused(
                    f"workflow {workflow!r} already has {active} job(s) queued or running, its "
                    f"limit is {limit.effective} and its behavior is reject: try again later"
                )
        for name, decl in self.config.limits("submit").items():
            if decl.workflow not in (None, workflow):
                continue
            key = limit_key(decl, user=user, workflow=workflow)
            wait = self.limiter.wait_time(name, key)
            if wait > 0:
                who = f" for user {user or 'anonymous'}" if decl.scope == "user" else ""
                raise RateLimited(
                    f"rate limit {name!r} ({decl.limit} per {decl.per:g}s{who}) is spent: "
                    f"retry in {wait:.0f}s",
                    retry_after=wait,
                )

    def _count(self, where: str, params: Sequence[Any]) -> int:
        rows = self.db.query(f"SELECT COUNT(*) AS n FROM lockstep_jobs WHERE {where}", params)
        return int(rows[0]["n"])

    # -- claiming --------------------------------------------------------------------------

    def reap(self) -> list[str]:
        """Put back the jobs whose lease lapsed (see `lockstep.queue.claims.reap`)."""
        with self.db.transaction():
            return claims.reap(self, self.clock())

    def claim(self, worker: str, queues: Sequence[str] | None = None) -> Job | None:
        """Take the most urgent runnable job (lowest priority number, then oldest) that every
        limit allows, leasing it to `worker` under a fresh lease token; None when there is
        nothing to run now. Exactly one of any number of concurrent claimers wins a job."""
        names = list(queues or self.config.queue_system.queues)
        for q in names:
            self.config.queue(q)
        return claims.claim(self, worker, names)

    # -- while running ---------------------------------------------------------------------

    def heartbeat(self, worker: str, leases: Mapping[str, str | None]) -> dict[str, str]:
        """Renew `worker`'s leases (job ID -> lease token); returns the jobs it must stop:
        `cancel` (cancel asked) or `lost` (another worker took the job over)."""
        return claims.renew(self, worker, leases)

    # -- operator actions ------------------------------------------------------------------

    def cancel(self, target: str, *, by: str | None = None) -> list[Job]:
        """Cancel a job (or the job running a thread) and its children: queued and waiting
        jobs end now; running ones are asked to stop at their next step boundary."""
        rows = self.db.query("SELECT id FROM lockstep_jobs WHERE id = ?", (target,))
        if not rows:
            job = self.of_thread(target)
            if job is None:
                raise JobNotFound(target)
            rows = [{"id": job.id}]
        touched: list[Job] = []
        pending = [rows[0]["id"]]
        seen: set[str] = set()
        while pending:
            job_id = pending.pop()
            if job_id in seen:
                continue
            seen.add(job_id)
            job = self.get(job_id)
            children = self.db.query("SELECT id FROM lockstep_jobs WHERE parent_id = ?", (job_id,))
            pending.extend(r["id"] for r in children)
            if job.final:
                continue
            detail = {"by": by or "unknown"}
            if job.status == "running":
                self.db.execute(
                    "UPDATE lockstep_jobs SET cancel_requested = 1 WHERE id = ?", (job.id,)
                )
                self.event(job.id, "cancel_requested", detail)
            else:
                with self._ending(job) as react:
                    if self._end(job, None, "cancelled", error=f"cancelled by {detail['by']}"):
                        self.event(job.id, "cancelled", detail)
                        react("cancelled")
            touched.append(self.get(job.id))
        return touched

    def continue_(self, job: Job, resume: Mapping[str, Any] | None, *, by: str | None) -> Job:
        """Queue the continuation of a job's thread: a gate decision for a `waiting_human`
        job, or a plain resume of a `timed_out`, `cancelled` or `failed` one."""
        if job.status not in ("waiting_human", "timed_out", "cancelled", "failed"):
            raise SubmitRefused(
                f"job {job.id} is {job.status}; only a job waiting at a gate, timed out, "
                "cancelled or failed can be continued"
            )
        changed = self.db.rowcount(
            "UPDATE lockstep_jobs SET status = 'queued', resume = ?, run_after = ?, "
            "cancel_requested = 0, finished_at = NULL, error = NULL, "
            "run_seconds = CASE WHEN status = 'timed_out' THEN 0 ELSE run_seconds END "
            "WHERE id = ? AND status = ?",
            (json.dumps(dict(resume)) if resume else None, self.clock(), job.id, job.status),
        )
        if not changed:
            raise SubmitRefused(f"job {job.id} changed while continuing it; look again")
        self.event(
            job.id, "continued", {"by": by or "unknown", "decision": (resume or {}).get("decision")}
        )
        return self.get(job.id)

    def continue_thread(
        self,
        client: Lockstep,
        thread_id: str,
        decision: str | None = None,
        *,
        comment: str | None = None,
        by: str | None = None,
        **fields: Any,
    ) -> Job | None:
        """Resume a thread the queue owns by queueing its continuation (checked and claimed
        now, run by a worker); None when no job owns the thread (the caller runs it)."""
        job = self.of_thread(thread_id)
        if job is None or job.status == "succeeded":
            return None
        if job.status in ("queued", "running"):
            raise SubmitRefused(
                f"thread {thread_id} is being run by job {job.id} ({job.status}); "
                f"wait for it or cancel it first: lockstep cancel {job.id}"
            )
        current = client.status(thread_id)
        payload = resume_payload(current, decision, comment=comment, by=by, **fields)
        resume: dict[str, Any] | None = None
        if payload is not None:
            claim_gate(self.db, current, str(decision), by)
            resume = {"decision": decision, "comment": comment, "by": by, **fields}
        return self.continue_(job, resume, by=by)

    def requeue(self, job_id: str, *, by: str | None = None) -> Job:
        """Send a dead-lettered job back to its queue with its attempts reset."""
        job = self.get(job_id)
        if job.status != "dead_lettered":
            raise SubmitRefused(f"job {job_id} is {job.status}, not dead_lettered")
        queue = job.origin_queue or self.config.queue_system.default_queue
        self.config.queue(queue)
        self.db.execute(
            "UPDATE lockstep_jobs SET status = 'queued', queue = ?, origin_queue = NULL, "
            "attempts = 0, run_after = ?, finished_at = NULL WHERE id = ?",
            (queue, self.clock(), job_id),
        )
        self.event(job_id, "requeued", {"by": by or "unknown", "queue": queue})
        return self.get(job_id)

    def purge(self, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead-lettered jobs (all of them, or the ones named) and their events."""
        jobs = [j.id for j in self.find(status="dead_lettered")]
        if job_ids is not None:
            unknown = set(job_ids) - set(jobs)
            if unknown:
                raise JobNotFound(sorted(unknown)[0])
            jobs = list(job_ids)
        for job_id in jobs:
            self.db.execute("DELETE FROM lockstep_job_events WHERE job_id = ?", (job_id,))
            self.db.execute("DELETE FROM lockstep_jobs WHERE id = ?", (job_id,))
        return len(jobs)
