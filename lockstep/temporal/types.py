"""What the Temporal workflow, its activities and the client side pass each other.

Plain dataclasses of JSON values, importable inside the workflow sandbox (no lockstep, no
LangGraph). The thread's state never rides in them: each activity reads and writes it through
lockstep's checkpointer, so payloads stay a few hundred bytes whatever the state's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WORKFLOW_NAME",
    "GateAnswer",
    "JobInput",
    "PartialCall",
    "StepCall",
    "StepResult",
    "priority_key",
]

WORKFLOW_NAME = "lockstep-thread"
"""The Temporal workflow type of every lockstep thread (one workflow per thread)."""
STEP_ACTIVITY = "lockstep-step"
PARTIAL_ACTIVITY = "lockstep-save-partial"


def priority_key(priority: int) -> int:
    """lockstep's 0-100 priority (lower first) as a Temporal priority key, 1 (first) to 5."""
    return 1 + min(4, max(0, priority) * 5 // 101)


@dataclass
class JobInput:
    """How a thread's workflow runs: which thread, and the knobs the workflow maps onto
    activity options (timeouts, lease, retries, priority)."""

    thread_id: str
    workflow: str
    database_url: str | None
    queue: str
    priority: int = 50
    user: str | None = None
    step_timeouts: dict[str, float] = field(default_factory=dict)
    """Seconds per step state (from `timeouts:` or the machine); `default_step_timeout` else."""
    default_step_timeout: float = 3600.0
    heartbeat_timeout: float = 30.0
    max_attempts: int = 4
    """Attempts of one step's activity (1 + the queue's max_retries)."""
    retry_base: float = 2.0
    retry_max: float = 300.0
    per_superstep: bool = True
    """False: an activity runs on to the next gate or the end (`engine.activity_per: run`)."""
    config_path: str | None = None
    """The lockstep.yaml the submitter used (limits, extra workflows), read by the worker."""
    job_id: str | None = None
    """The thread's row in `lockstep_jobs` (its slots, limits and end; lockstep.temporal.jobs)."""
    task_queue: str = ""


@dataclass
class GateAnswer:
    """A decision for a pending gate (`interrupt_id` names which one)."""

    decision: str
    by: str = "unknown"
    comment: str | None = None
    interrupt_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    claimed: bool = False
    """True when the sender already took the gate's first-answer-wins claim in the database."""

    def as_mapping(self) -> dict[str, Any]:
        return {"decision": self.decision, "by": self.by, "comment": self.comment, **self.fields}


@dataclass
class StepCall:
    """One activity: advance `thread_id` by one superstep, unless its checkpoint has already
    moved past `seen` (an earlier attempt committed the step, then its worker died)."""

    job: JobInput
    seen: str | None
    answer: GateAnswer | None = None


@dataclass
class StepResult:
    """Where the thread rests after an activity (read from its checkpoint)."""

    checkpoint_id: str | None
    status: str
    final: bool
    next: list[str] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    """The pending gate (gate, decisions, comment_required, requires, deadline, interrupt_id)."""
    error: str | None = None
    ran: bool = True
    """False when the activity found the step already committed and skipped it."""
    failed: bool = False
    """True when the thread ended in its machine's error state."""
    full: str | None = None
    """Why no slot was free (a concurrency limit): nothing ran, the workflow waits, asks again."""
    timed_out: str | None = None
    """Why the job ended `timed_out` (past `timeouts.workflow_total`), partial work saved."""


@dataclass
class PartialCall:
    """Mark a stopped thread's partial artifacts `incomplete` (cancel, time-out)."""

    job: JobInput
    reason: str
