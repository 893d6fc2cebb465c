"""Outbound notifications: a workflow's `notify:` targets get a signed JSON POST when its jobs
complete, wait at a gate, fail, time out or are cancelled, and when its machine announces an
event: a `notify` entry or exit action (`on_enter: [notify]`), or an expired session.

Where deliveries run, and why:

- **Queued with the job's end.** `enqueue` writes one `lockstep_notifications` row per target
  inside the transaction that ends the job (an outbox): a crash right after the end loses no
  notification, and an end that was not written (a lost lease) sends none.
- **Queued with the machine's action.** `action_notify` is the hook the `notify` action calls
  (`lockstep.machine.actions.on_notify`, registered when `lockstep.triggers` is imported): it
  writes the rows inside the action's own transaction, with the action's exactly-once claim,
  so a step re-run after a crash finds the claim and queues nothing again.
- **Sent by the scheduler**, on a thread of its own (`deliver_due`), never by the worker's
  job slot and never inside a database transaction: a slow or dead receiver holds no lock,
  delays no job and cannot fail a workflow. Any number of schedulers may drain the outbox; a
  row is leased (`lease_until`) before its attempt, so each attempt is made once.
- **Retried with backoff.** A non-2xx answer or a network error is an attempt, recorded in
  `lockstep_notification_attempts` (status code or error); the next one waits
  `base_delay * 2^(n-1)` (jittered, capped at `max_delay`), until `max_attempts`, when the
  notification is `failed`. The job's status never changes because of a notification.

The body is `{"id", "event", "workflow", "job_id", "thread_id", "status", "outcome", "error",
"artifacts", "at"}`, signed like inbound webhooks (`signing`) when the target has a
`secret_env`; `X-Lockstep-Delivery` carries the notification id so a receiver can dedupe.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import httpx

from lockstep.machine.actions import ActionRun
from lockstep.queue.clock import db_now
from lockstep.queue.store import Job, JobQueue, backoff, iso
from lockstep.triggers.signing import signature_headers

__all__ = ["action_notify", "deliver", "deliver_due", "enqueue", "notifications"]

LEASE = 30.0
"""Seconds a sender holds a notification beyond its attempt's timeout."""


def enqueue(queue: JobQueue, job: Job, event: str, previous: dict[str, Any]) -> list[str]:
    """Queue `event` for every notify target of the job's workflow that wants it; returns
    the notification ids (called inside the job's end transaction)."""
    ids = []
    now = queue.clock()
    for target in queue.config.notify(job.workflow):
        if event not in target.events:
            continue
        note_id = uuid.uuid4().hex[:16]
        payload = {
            "id": note_id,
            "event": event,
            "workflow": job.workflow,
            "job_id": job.id,
            "thread_id": job.thread_id,
            "status": job.status,
            "outcome": job.outcome,
            "error": job.error,
            "artifacts": previous.get("artifacts") or {},
            "at": iso(now),
        }
        _insert(queue.db, note_id, job.workflow, job.id, event, target, payload, now)
        ids.append(note_id)
    return ids


def _insert(
    db: Any,
    note_id: str,
    workflow: str,
    job_id: str,
    event: str,
    target: Any,
    payload: dict[str, Any],
    now: float,
) -> None:
    db.execute(
        "INSERT INTO lockstep_notifications (id, workflow, job_id, event, url, secret_env, "
        "payload, status, max_attempts, base_delay, max_delay, timeout, next_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        (
            note_id,
            workflow,
            job_id,
            event,
            target.url,
            target.secret_env,
            json.dumps(payload, default=str),
            target.max_attempts,
            target.base_delay,
            target.max_delay,
            target.timeout,
            now,
            now,
        ),
    )


def _job_of(db: Any, thread_id: str) -> str:
    """The newest job driving `thread_id` (a thread run by a plain client has none: '')."""
    rows = db.query(
        "SELECT id FROM lockstep_jobs WHERE thread_id = ? ORDER BY seq DESC LIMIT 1",
        (thread_id,),
    )
    return str(rows[0]["id"]) if rows else ""


def action_notify(run: ActionRun, event: str) -> list[str]:
    """Queue `event`, announced by the machine (a `notify` entry/exit action, an expired
    session), for every notify target of the run's workflow that wants it (`NotifyDecl.wants`);
    returns the notification ids. Runs inside the action's transaction (`run_actions`), so the
    rows commit with its exactly-once claim. A run without the queue's configuration in its
    context (`RunContext.queue_config`) or without a database queues nothing."""
    ctx = run.context
    config = getattr(ctx, "queue_config", None)
    db = getattr(ctx, "db", None)
    if config is None or db is None or not hasattr(db, "execute"):
        return []
    targets = [t for t in config.notify(run.workflow) if t.wants(event)]
    if not targets:
        return []
    job_id = getattr(ctx, "job_id", None) or _job_of(db, run.thread_id)
    now = db_now(db)
    ids = []
    for target in targets:
        note_id = uuid.uuid4().hex[:16]
        payload = {
            "id": note_id,
            "event": event,
            "workflow": run.workflow,
            "job_id": job_id or None,
            "thread_id": run.thread_id,
            "status": str(run.values.get("status") or run.state),
            "state": run.state,
            "phase": run.phase,
            "transition": dict(run.transition),
            "outcome": None,
            "error": run.values.get("error"),
            "artifacts": {},
            "at": iso(now),
        }
        _insert(db, note_id, run.workflow, job_id, event, target, payload, now)
        ids.append(note_id)
    return ids


def _post(row: dict[str, Any]) -> tuple[int | None, str | None]:
    """One attempt: (status code, None) on 2xx, else (code or None, why)."""
    body = row["payload"].encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "lockstep-notify/1",
        "X-Lockstep-Event": row["event"],
    }
    if row["secret_env"]:
        secret = os.environ.get(row["secret_env"])
        if not secret:
            return None, f"secret ${row['secret_env']} is not set: not sent unsigned"
        headers.update(signature_headers(secret, body, int(time.time()), row["id"]))
    else:
        headers["X-Lockstep-Delivery"] = row["id"]
    try:
        response = httpx.post(row["url"], content=body, headers=headers, timeout=row["timeout"])
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def deliver(queue: JobQueue, note_id: str) -> str | None:
    """Make the next attempt of one notification if it is due and nobody else holds it;
    returns its status afterwards (None when it was not this caller's to send)."""
    now = queue.clock()
    rows = queue.db.query("SELECT * FROM lockstep_notifications WHERE id = ?", (note_id,))
    if not rows:
        return None
    row = rows[0]
    taken = queue.db.rowcount(
        "UPDATE lockstep_notifications SET lease_until = ?, attempts = attempts + 1 "
        "WHERE id = ? AND status = 'pending' AND next_at <= ? "
        "AND (lease_until IS NULL OR lease_until < ?) AND attempts = ?",
        (now + float(row["timeout"]) + LEASE, note_id, now, now, row["attempts"]),
    )
    if not taken:
        return None
    attempt = int(row["attempts"]) + 1
    code, error = _post(row)
    done = queue.clock()
    queue.db.execute(
        "INSERT INTO lockstep_notification_attempts (notification_id, attempt, at, "
        "status_code, error) VALUES (?, ?, ?, ?, ?)",
        (note_id, attempt, done, code, error),
    )
    if error is None:
        status, next_at = "delivered", done
    elif attempt >= int(row["max_attempts"]):
        status, next_at = "failed", done
    else:
        delay = backoff(attempt, float(row["base_delay"]), float(row["max_delay"]))
        status, next_at = "pending", done + delay
    queue.db.execute(
        "UPDATE lockstep_notifications SET status = ?, next_at = ?, lease_until = NULL, "
        "last_error = ?, delivered_at = ? WHERE id = ?",
        (status, next_at, error, done if status == "delivered" else None, note_id),
    )
    return status


def deliver_due(queue: JobQueue, *, limit: int = 50) -> int:
    """Attempt every due notification (at most `limit`); returns how many were delivered."""
    rows = queue.db.query(
        "SELECT id FROM lockstep_notifications WHERE status = 'pending' AND next_at <= ? "
        "ORDER BY next_at LIMIT ?",
        (queue.clock(), limit),
    )
    return sum(deliver(queue, r["id"]) == "delivered" for r in rows)


def notifications(queue: JobQueue, job_id: str | None = None) -> list[dict[str, Any]]:
    """Notifications (of one job, or all), oldest first, each with its attempts."""
    where, params = ("job_id = ?", (job_id,)) if job_id else ("1 = 1", ())
    rows = queue.db.query(
        f"SELECT * FROM lockstep_notifications WHERE {where} ORDER BY seq", params
    )
    for row in rows:
        row["payload"] = json.loads(row["payload"])
        row["attempts_made"] = queue.db.query(
            "SELECT attempt, at, status_code, error FROM lockstep_notification_attempts "
            "WHERE notification_id = ? ORDER BY attempt",
            (row["id"],),
        )
    return rows
