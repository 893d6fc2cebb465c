"""A job as the queue stores it: the `Job` row, its statuses and events, and what the
claim path needs of a queue (`QueueView`), so `claims.py` and `store.py` share them without
importing each other."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from lockstep.db import Database
from lockstep.errors import ConfigError
from lockstep.queue.config import QueueConfig
from lockstep.queue.limits import RateLimiter

__all__ = [
    "ACTIVE",
    "EVENTS",
    "FINAL",
    "Job",
    "QueueView",
    "backoff",
    "check_status",
    "iso",
]

ACTIVE = ("queued", "running")
"""Statuses holding (or waiting for) a slot; a job at a human gate releases its slot."""
FINAL = ("succeeded", "failed", "dead_lettered", "cancelled", "timed_out")
EVENTS = (
    "submitted",
    "started",
    "checkpointed",
    "waiting_human",
    "retrying",
    "succeeded",
    "failed",
    "dead_lettered",
    "cancelled",
    "timed_out",
    "lease_expired",
    "released",
    "continued",
    "cancel_requested",
    "requeued",
)


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1-based): exponential, capped, then jittered down to
    half so retries from many jobs spread out. Job retries and notification deliveries."""
    return min(cap, base * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


@dataclass
class Job:
    """One row of `lockstep_jobs`."""

    id: str
    queue: str
    workflow: str
    priority: int
    status: str
    thread_id: str
    input: dict[str, Any]
    attempts: int
    max_retries: int
    submitted_at: float
    run_after: float
    user_name: str | None = None
    idempotency_key: str | None = None
    parent_id: str | None = None
    origin_queue: str | None = None
    lease_owner: str | None = None
    lease_token: str | None = None
    """Written fresh by each claim; the fencing token every later write compares."""
    lease_expires: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    run_seconds: float = 0.0
    error: str | None = None
    outcome: str | None = None
    cancel_requested: bool = False
    resume: dict[str, Any] | None = None
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        data = dict(row)
        data["input"] = json.loads(data["input"] or "{}")
        data["resume"] = json.loads(data["resume"]) if data.get("resume") else None
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601 UTC."""
        data = asdict(self)
        del data["lease_token"]  # the worker's capability, not for display
        for key in ("submitted_at", "started_at", "finished_at", "run_after", "lease_expires"):
            data[key] = iso(data[key])
        for event in data["events"]:
            event["at"] = iso(event["at"])
        return data


def check_status(value: str | None) -> str | None:
    """A `--status` filter: one of the job statuses."""
    statuses = (*ACTIVE, "waiting_human", *FINAL)
    if value is not None and value not in statuses:
        raise ConfigError(f"unknown job status {value!r}: use one of {', '.join(statuses)}")
    return value


class QueueView(Protocol):
    """What claiming and reaping use of a `JobQueue`."""

    db: Database
    config: QueueConfig
    clock: Callable[[], float]
    limiter: RateLimiter

    def event(
        self,
        job_id: str,
        kind: str,
        detail: Mapping[str, Any] | None = None,
        *,
        at: float | None = None,
    ) -> None: ...

    def get(self, job_id: str, *, events: bool = False) -> Job: ...

    def dead_letter(
        self, job: Job, error: str, *, seen: tuple[str, str, float | None] | None = None
    ) -> bool: ...
