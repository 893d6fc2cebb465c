"""Errors raised by lockstep, one hierarchy under one base.

    LockstepError
    ├── ConfigError          bad settings: unknown model string, malformed YAML, bad URL
    ├── MachineError         a state-machine declaration that fails its static checks
    ├── StorageError         the database or blob store cannot be opened or is corrupt
    ├── SourcesError         a sources folder that is missing, not a folder, or empty
    ├── RequestError         a workflow request with missing or invalid fields
    ├── ThreadNotFound       no thread with that ID in this database
    ├── ThreadStateError     the thread cannot do what was asked in its current state
    │   └── InvalidDecision  a gate decision the pending gate does not allow
    ├── ArtifactError        an unknown artifact or version, or a checksum mismatch
    ├── JobNotFound          no job with that ID
    ├── SubmitRefused        a submit the queue's limits refuse (nothing was enqueued)
    │   └── RateLimited      a rate limit is spent; `retry_after` says for how long
    └── TriggerError         a trigger that cannot fire: a template naming a missing field or
                             refused by the sandbox, a payload failing its schema (nothing
                             was enqueued)

Every message is one line that names the problem; the CLI prints it without a traceback.
"""

from __future__ import annotations

import math

__all__ = [
    "ArtifactError",
    "ConfigError",
    "InvalidDecision",
    "JobNotFound",
    "LockstepError",
    "MachineError",
    "RateLimited",
    "RequestError",
    "SourcesError",
    "StorageError",
    "SubmitRefused",
    "ThreadNotFound",
    "ThreadStateError",
    "TriggerError",
]


class LockstepError(Exception):
    """Base class of every error lockstep raises on purpose."""

    exit_code = 1


class ConfigError(LockstepError):
    """Settings that cannot be used: unknown model, malformed YAML, bad database URL."""


class MachineError(LockstepError):
    """A machine declaration that fails its static checks; `problems` lists each one."""

    def __init__(self, machine: str, problems: list[str]) -> None:
        self.machine = machine
        self.problems = list(problems)
        super().__init__(f"machine {machine!r} is invalid: " + "; ".join(self.problems))


class StorageError(LockstepError):
    """The database or blob store cannot be opened, or holds something unreadable."""


class SourcesError(LockstepError):
    """A sources folder that is missing, is not a folder, or holds no readable document."""


class RequestError(LockstepError):
    """A workflow request with missing or invalid fields, each named in the message."""


class ThreadNotFound(LockstepError):
    """No thread with that ID exists in the database."""

    exit_code = 2

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        super().__init__(f"unknown thread {thread_id!r}")


class ThreadStateError(LockstepError):
    """The thread cannot do what was asked in its current state (nothing was changed)."""


class InvalidDecision(ThreadStateError):
    """A gate decision the pending gate does not allow (the thread is left unchanged)."""


class ArtifactError(LockstepError):
    """An unknown artifact or version, or content whose checksum does not match."""


class JobNotFound(LockstepError):
    """No job with that ID exists in the database."""

    exit_code = 2

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"unknown job {job_id!r}")


class CallCancelled(LockstepError):
    """An LLM call stopped in flight because its run was cancelled; the step did not finish
    and the thread stays at its last checkpoint."""


class SubmitRefused(LockstepError):
    """A submit refused by the queue's limits (a `reject` concurrency limit); nothing queued."""


class RateLimited(SubmitRefused):
    """A rate limit is spent; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class TriggerError(LockstepError):
    """A trigger that cannot fire (nothing was enqueued): its input mapping names a missing
    field or is refused by the template sandbox, or its payload fails the declared schema."""


_HTTP_STATUS: tuple[tuple[type[LockstepError], int], ...] = (
    (ThreadNotFound, 404),
    (JobNotFound, 404),
    (ArtifactError, 404),
    (ThreadStateError, 409),
    (RateLimited, 429),
    (SubmitRefused, 409),
    (SourcesError, 422),
    (RequestError, 422),
    (ConfigError, 422),
    (StorageError, 503),
)


def http_reply(exc: LockstepError) -> tuple[int, dict[str, str]]:
    """The status and headers every HTTP surface (the API, webhooks) answers `exc` with:
    unknown thread/job/artifact 404, a refused decision or submit 409, a spent rate limit 429
    with `Retry-After`, bad input 422, the database away 503, anything else 500."""
    status = next((code for kind, code in _HTTP_STATUS if isinstance(exc, kind)), 500)
    if isinstance(exc, RateLimited):
        return status, {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return status, {}
