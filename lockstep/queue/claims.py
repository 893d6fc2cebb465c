"""Claims, leases and reaping: who runs a job, decided by compare-and-set on the job row.

A claim writes `lease_owner`, a fresh `lease_token` and `lease_expires`; every later change to
a running job names the token it holds (renewing, ending, reaping, the checkpoint fence in
`lockstep.checkpointers.fence`), so a worker that lost its lease changes nothing, and a job is
put back only if the lease the reaper saw is still the lease in the row: exactly one claimer
wins any job, with or without limits. Postgres adds `FOR UPDATE SKIP LOCKED` on the rows a
claim reads (and an advisory lock when limits must be counted); SQLite's `BEGIN IMMEDIATE`
already serialises claims. Every time compared comes from the database's clock.

After a Postgres restart, leases are not reaped for one visibility timeout: the workers were
cut off, not dead, and their heartbeats renew once they reconnect. A lease last renewed before
the restart that still lapses is put back without spending an attempt, and its event says the
database restarted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from lockstep.queue.jobs import Job, QueueView, iso
from lockstep.queue.limits import limit_key

__all__ = ["claim", "reap", "renew"]

SERVER_START = "extract(epoch from pg_postmaster_start_time())::float8"
LEASE_SEEN = (
    "status = 'running' AND COALESCE(lease_owner, '') = ? AND COALESCE(lease_token, '') = ? "
    "AND lease_expires = ?"
)
"""Compare-and-set: the lease in the row is still the one the caller read."""


def _seen(job: Job) -> tuple[str, str, float | None]:
    return (job.lease_owner or "", job.lease_token or "", job.lease_expires)


def reap(queue: QueueView, now: float) -> list[str]:
    """Put back (or dead-letter, attempts spent) the running jobs whose lease lapsed before
    `now`; each only if its lease is still the one read. Runs inside each claim."""

    pg = queue.db.dialect == "postgres"
    lease = queue.config.queue_system.visibility_timeout
    extra = f", {SERVER_START} AS db_started" if pg else ""
    grace = f" AND {SERVER_START} + ? < ?" if pg else ""
    rows = queue.db.query(
        f"SELECT *{extra} FROM lockstep_jobs WHERE status = 'running' AND lease_expires < ?"
        f"{grace}{' FOR UPDATE SKIP LOCKED' if pg else ''}",
        (now, *((lease, now) if pg else ())),
    )
    taken: list[str] = []
    for row in rows:
        started = row.pop("db_started", None)
        job = Job.from_row(row)
        expires = job.lease_expires or now
        ran = max(0.0, expires - (job.started_at or now))
        outage = started is not None and expires - lease < float(started)
        if outage:
            error = (
                f"lease expired: the database restarted at {iso(float(started))} and worker "
                f"{job.lease_owner} could not reach it to renew its lease; attempt not counted"
            )
        else:
            error = f"lease expired: worker {job.lease_owner} did not renew it (stopped or cut off)"
        if job.attempts > job.max_retries and not outage:
            if queue.dead_letter(job, error, seen=_seen(job)):
                taken.append(job.id)
            continue
        changed = queue.db.rowcount(
            "UPDATE lockstep_jobs SET status = 'queued', lease_owner = NULL, lease_token = NULL, "
            f"lease_expires = NULL, run_after = ?, error = ?, attempts = attempts - ? "
            f"WHERE id = ? AND {LEASE_SEEN}",
            (now, error, 1 if outage else 0, job.id, *_seen(job)),
        )
        if changed:
            detail: dict[str, Any] = {"worker": job.lease_owner, "ran": ran}
            if outage:
                detail["cause"] = "database unreachable (restarted)"
            queue.event(job.id, "lease_expired", detail, at=now)
            taken.append(job.id)
    return taken


def claim(queue: QueueView, worker: str, names: Sequence[str]) -> Job | None:
    """Lease the most urgent runnable job every limit allows to `worker` (see `JobQueue`)."""

    lease = queue.config.queue_system.visibility_timeout
    marks = ", ".join("?" for _ in names)
    with queue.db.transaction():
        pg = queue.db.dialect == "postgres"
        if pg and _limited(queue, names):
            queue.db.query("SELECT pg_advisory_xact_lock(7723012)")
        now = queue.clock()  # after the lock: a claim that queued on it must not look back
        reap(queue, now)
        lock = " FOR UPDATE SKIP LOCKED" if pg else ""
        rows = queue.db.query(
            f"SELECT * FROM lockstep_jobs WHERE status = 'queued' AND queue IN ({marks}) "
            f"AND run_after <= ? ORDER BY priority, seq LIMIT 50{lock}",
            (*names, now),
        )
        if not rows:
            return None
        running = _running_counts(queue)
        # read again after the counts: a job whose end freed a slot this claim takes ended
        # (its event timed) before this reading, so spans read from events never overlap
        now = queue.clock()
        for row in rows:
            job = Job.from_row(row)
            if not _allowed(queue, job, running, now):
                continue
            token = uuid.uuid4().hex
            if not queue.db.rowcount(
                "UPDATE lockstep_jobs SET status = 'running', lease_owner = ?, lease_token = ?, "
                "lease_expires = ?, attempts = attempts + 1, "
                "started_at = COALESCE(started_at, ?) WHERE id = ? AND status = 'queued'",
                (worker, token, now + lease, now, job.id),
            ):
                continue
            # `at` is the claim's own time, the one its start-limit hit carries: a window
            # counted over `started` events holds exactly what the limiter held
            queue.event(job.id, "started", {"worker": worker, "attempt": job.attempts + 1}, at=now)
            return queue.get(job.id)
    return None


def renew(queue: QueueView, worker: str, leases: Mapping[str, str | None]) -> dict[str, str]:
    """Extend the leases `worker` holds (job ID -> lease token); the jobs it must stop:
    `cancel` (cancel asked) or `lost` (its lease is gone: reaped, or taken over)."""
    if not leases:
        return {}
    marks = ", ".join("?" for _ in leases)
    tokens = [t for t in leases.values() if t]
    if tokens:
        queue.db.execute(
            f"UPDATE lockstep_jobs SET lease_expires = ? WHERE status = 'running' "
            f"AND lease_owner = ? AND lease_token IN ({', '.join('?' for _ in tokens)})",
            (queue.clock() + queue.config.queue_system.visibility_timeout, worker, *tokens),
        )
    rows = queue.db.query(
        f"SELECT id, status, lease_token, cancel_requested FROM lockstep_jobs "
        f"WHERE id IN ({marks})",
        tuple(leases),
    )
    stop: dict[str, str] = {}
    for r in rows:
        if r["status"] != "running" or r["lease_token"] != leases[r["id"]]:
            stop[r["id"]] = "lost"
        elif r["cancel_requested"]:
            stop[r["id"]] = "cancel"
    return stop


def _limited(queue: QueueView, names: Sequence[str]) -> bool:
    """Whether claims from these queues must count slots (and so serialise)."""
    config = queue.config
    if any(config.queue_system.queues[q].limit for q in names):
        return True
    if any(w.effective for w in config.concurrency.workflows.values()):
        return True
    return bool(config.limits("start") or config.limits("tokens"))


def _running_counts(queue: QueueView) -> dict[tuple[str, str], int]:
    rows = queue.db.query(
        "SELECT queue, workflow, COUNT(*) AS n FROM lockstep_jobs "
        "WHERE status = 'running' GROUP BY queue, workflow"
    )
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        for key in (("queue", r["queue"]), ("workflow", r["workflow"])):
            counts[key] = counts.get(key, 0) + int(r["n"])
    return counts


def _allowed(queue: QueueView, job: Job, running: dict[tuple[str, str], int], now: float) -> bool:
    config = queue.config
    qlimit = config.queue_system.queues[job.queue].limit
    if qlimit is not None and running.get(("queue", job.queue), 0) >= qlimit:
        return False
    wdecl = config.concurrency.workflows.get(job.workflow)
    wlimit = wdecl.effective if wdecl else None
    if wlimit is not None and running.get(("workflow", job.workflow), 0) >= wlimit:
        return False
    for name, decl in config.limits("tokens").items():
        if decl.workflow not in (None, job.workflow):
            continue
        key = limit_key(decl, user=job.user_name, workflow=job.workflow)
        if queue.limiter.used(name, key, now=now) >= decl.limit:
            return False
    if job.started_at is None:  # start limits count first starts, not retries
        starts = [
            (n, d) for n, d in config.limits("start").items() if d.workflow in (None, job.workflow)
        ]
        keys = [(n, limit_key(d, user=job.user_name, workflow=job.workflow)) for n, d in starts]
        if any(queue.limiter.wait_time(n, k, take=False, now=now) > 0 for n, k in keys):
            return False
        for n, k in keys:
            queue.limiter.wait_time(n, k, now=now)
    return True
