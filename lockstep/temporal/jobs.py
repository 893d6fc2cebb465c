"""A Temporal thread's job row in lockstep's database, and the limits it enforces.

Every Temporal job has a row in `lockstep_jobs`, as on the built-in queue, so `GET /jobs`, the
job event streams, the web page and the end hooks (chains, notifications) see it. Its `queue`
column holds the Temporal task queue (`<prefix><queue>`), a name no lockstep queue has, so the
built-in workers never claim it.

Before each step the activity takes a *slot*: in one transaction (under the built-in claims'
advisory lock on Postgres, so both engines count together) it checks the queue's
`concurrency_limit`, the workflow's concurrency limit and the `tokens` limits against the
steps running now, then leases the row (`running`, owner, token, expiry). A full slot is
`SlotsFull`; the workflow waits (a durable timer, backing off) and asks again. After the step
the lease is released, or the row ends as the built-in engine ends it: `waiting_human`,
`succeeded`, `failed`, or `timed_out` past `timeouts.workflow_total` (running time only, checked
at each step boundary, the same message).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from lockstep.client import Lockstep, ThreadStatus
from lockstep.graphs import workflow_machine
from lockstep.queue.config import QueueConfig
from lockstep.queue.jobs import FINAL, Job
from lockstep.queue.limits import limit_key
from lockstep.queue.store import JobQueue
from lockstep.temporal.types import JobInput

__all__ = ["Slot", "acquire", "ended_badly", "limited", "release", "renew", "settle", "stopped"]

LOCK = 7723012
"""The built-in claims' advisory lock (`lockstep.queue.claims`): slots and claims serialise."""


class Slot:
    """A step's lease on its job row: the job as leased, and when the step started."""

    def __init__(self, queue: JobQueue, job: Job, owner: str, lease: float) -> None:
        self.queue, self.job, self.owner, self.lease = queue, job, owner, lease
        self.started = time.monotonic()


def limited(config: QueueConfig, job: JobInput) -> bool:
    """Whether this job's steps must count slots (a queue or workflow limit, token limits)."""
    decl = config.queue_system.queues.get(job.queue)
    if decl is not None and decl.limit:
        return True
    wdecl = config.concurrency.workflows.get(job.workflow)
    if wdecl is not None and wdecl.effective:
        return True
    return bool(config.limits("tokens"))


def _full(queue: JobQueue, job: JobInput, task_queue: str, now: float) -> str | None:
    """Why no slot is free for `job` now (None: one is)."""
    config = queue.config
    rows = queue.db.query(
        "SELECT queue, workflow, COUNT(*) AS n FROM lockstep_jobs WHERE status = 'running' "
        "AND id <> ? AND lease_owner IS NOT NULL AND lease_expires >= ? GROUP BY queue, workflow",
        (job.job_id, now),
    )
    on_queue = sum(int(r["n"]) for r in rows if r["queue"] in (job.queue, task_queue))
    of_workflow = sum(int(r["n"]) for r in rows if r["workflow"] == job.workflow)
    decl = config.queue_system.queues.get(job.queue)
    if decl is not None and decl.limit is not None and on_queue >= decl.limit:
        return f"queue {job.queue!r} runs {on_queue} step(s), its limit is {decl.limit}"
    wdecl = config.concurrency.workflows.get(job.workflow)
    wlimit = wdecl.effective if wdecl else None
    if wlimit is not None and of_workflow >= wlimit:
        return f"workflow {job.workflow!r} runs {of_workflow} step(s), its limit is {wlimit}"
    for name, tdecl in config.limits("tokens").items():
        if tdecl.workflow not in (None, job.workflow):
            continue
        key = limit_key(tdecl, user=job.user, workflow=job.workflow)
        if queue.limiter.used(name, key, now=now) >= tdecl.limit:
            return f"token limit {name!r} is spent"
    return None


def acquire(
    client: Lockstep, config: QueueConfig, job: JobInput, task_queue: str, owner: str
) -> Slot | str | None:
    """Lease the job's row for one step: the slot, the reason no slot is free, or None for a
    job with no row (submitted before job rows existed) or one already ended."""
    if not job.job_id:
        return None
    queue = JobQueue(client.db, config, client=client)
    pg = client.db.dialect == "postgres"
    lease = max(job.heartbeat_timeout * 3, 10.0)
    with client.db.transaction():
        if pg and limited(config, job):
            client.db.query(f"SELECT pg_advisory_xact_lock({LOCK})")
        now = queue.clock()
        rows = client.db.query(
            f"SELECT * FROM lockstep_jobs WHERE id = ?{' FOR UPDATE' if pg else ''}",
            (job.job_id,),
        )
        if not rows:
            raise LookupError(f"job {job.job_id} is not committed yet")
        current = Job.from_row(rows[0])
        if current.status in FINAL:
            return None
        if limited(config, job):
            why = _full(queue, job, task_queue, now)
            if why is not None:
                return why
        token = uuid.uuid4().hex
        client.db.execute(
            "UPDATE lockstep_jobs SET status = 'running', lease_owner = ?, lease_token = ?, "
            "lease_expires = ?, attempts = attempts + ?, started_at = COALESCE(started_at, ?) "
            "WHERE id = ?",
            (owner, token, now + lease, 0 if current.status == "running" else 1, now, job.job_id),
        )
        if current.status != "running":
            queue.event(job.job_id, "started", {"worker": owner, "engine": "temporal"}, at=now)
    return Slot(queue, queue.get(job.job_id), owner, lease)


def renew(client: Lockstep, slot: Slot) -> None:
    """Extend the step's lease (called from the activity's heartbeats)."""
    client.db.execute(
        "UPDATE lockstep_jobs SET lease_expires = ? WHERE id = ? AND lease_token = ?",
        (slot.queue.clock() + slot.lease, slot.job.id, slot.job.lease_token),
    )


def release(slot: Slot) -> None:
    """Give the slot back with the job still running (more steps to come)."""
    slot.queue.db.execute(
        "UPDATE lockstep_jobs SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
        "run_seconds = run_seconds + ? WHERE id = ? AND lease_token = ?",
        (time.monotonic() - slot.started, slot.job.id, slot.job.lease_token),
    )


def settle(client: Lockstep, slot: Slot, status: ThreadStatus) -> str | None:
    """End the step on the job row as the built-in worker does; returns the reason when the
    job has now run past `timeouts.workflow_total` (ended `timed_out`, partial work saved)."""
    queue, job, owner = slot.queue, slot.job, slot.owner
    ran = time.monotonic() - slot.started
    if status.waiting:
        queue.wait_human(job, owner, ran=ran, gate=str((status.gate or {}).get("gate")))
    elif status.final:
        if status.status == workflow_machine(job.workflow).error_state:
            queue.fail(job, owner, ran=ran, error=status.error or "failed", retry=False)
        else:
            queue.succeed(job, owner, ran=ran, outcome=status.status)
    else:
        total = queue.config.timeouts.workflow_total
        if total is not None and job.run_seconds + ran > total:
            reason = f"the workflow ran {job.run_seconds + ran:.1f}s, over its {total:g}s limit"
            saved = client.save_partial(job.thread_id, by=f"worker:{owner}", step="timed_out")
            reason += f"; saved incomplete: {', '.join(saved)}" if saved else ""
            queue.stop(job, owner, "timed_out", ran=ran, reason=reason)
            return reason
        release(slot)
    return None


def ended_badly(slot: Slot, error: str, *, dead: bool) -> None:
    """The step failed for good: the job is dead-lettered (its retries spent) or failed."""
    job = replace(slot.job, attempts=slot.job.max_retries + 1) if dead else slot.job
    slot.queue.fail(job, slot.owner, ran=time.monotonic() - slot.started, error=error, retry=dead)


def stopped(client: Lockstep, config: QueueConfig, job_id: str, status: str, reason: str) -> None:
    """End a job whose workflow was cancelled (or a step timed out): `cancelled`/`timed_out`,
    with the end hooks, unless it already ended."""
    queue = JobQueue(client.db, config, client=client)
    job = queue.get(job_id)
    if job.final:
        return
    with queue._ending(job) as react:
        if queue._end(job, None, status, error=reason):
            queue.event(job.id, status, {"reason": reason})
            react(status)
