"""How a job ends: succeeded, waiting for a person, failed (retried with backoff or
dead-lettered), stopped at a step boundary (cancelled, timed out, handed back) — each a
compare-and-set on the job's lease, written with its event — and the end hooks
(`on_job_end`) that a layer above registers to act in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from lockstep.queue import claims
from lockstep.queue.jobs import FINAL, Job, QueueView, backoff

__all__ = ["END_HOOKS", "EndHook", "JobEnds", "on_job_end"]


class EndHook(Protocol):
    """What a job's end sets off, registered by a layer above the queue (the triggers
    register completion chains and notifications) so that the queue never imports it. Its
    methods receive the `JobQueue`."""

    def prepare(self, queue: Any, job: Job) -> Any:
        """Read what the hook needs, outside the end's transaction; None: nothing to do."""

    def ended(self, queue: Any, job: Job, status: str, prepared: Any) -> None:
        """Act inside the transaction that writes the end: its writes exist exactly when the
        end does."""


END_HOOKS: list[EndHook] = []


def on_job_end(hook: EndHook) -> None:
    """Register `hook` for every job end in this process (idempotent)."""
    if hook not in END_HOOKS:
        END_HOOKS.append(hook)


class JobEnds(QueueView):
    """`JobQueue`'s end paths (a mixin: the queue provides the database, clock and events)."""

    def _end(
        self,
        job: Job,
        worker: str | None,
        status: str,
        *,
        ran: float = 0.0,
        error: str | None = None,
        outcome: str | None = None,
        run_after: float | None = None,
        extra: str = "",
        params: Sequence[Any] = (),
    ) -> bool:
        """Move a running job out of `running`, only while `worker` still holds the lease
        (the token) it claimed `job` with."""
        now = self.clock()
        final = status in FINAL
        owner = "AND lease_owner = ? AND lease_token = ? AND status = 'running'" if worker else ""
        changed = self.db.rowcount(
            "UPDATE lockstep_jobs SET status = ?, lease_owner = NULL, lease_expires = NULL, "
            "lease_token = NULL, "
            "run_seconds = run_seconds + ?, error = COALESCE(?, error), "
            "outcome = COALESCE(?, outcome), finished_at = ?, run_after = COALESCE(?, run_after)"
            f"{extra} WHERE id = ? {owner}",
            (
                status,
                ran,
                error,
                outcome,
                now if final else None,
                run_after,
                *params,
                job.id,
                *([worker, job.lease_token] if worker else []),
            ),
        )
        return changed > 0

    @contextmanager
    def _ending(self, job: Job) -> Iterator[Callable[[str], None]]:
        """A transaction to end `job` in. The function it yields, called once the end is
        written, runs the registered end hooks (`on_job_end`) in the same transaction; what
        they need is read first, outside it."""
        prepared = [(hook, hook.prepare(self, job)) for hook in END_HOOKS]

        def react(status: str) -> None:
            ended = self.get(job.id)
            for hook, state in prepared:
                if state is not None:
                    hook.ended(self, ended, status, state)

        with self.db.transaction():
            yield react

    def succeed(self, job: Job, worker: str, *, ran: float, outcome: str) -> bool:
        with self._ending(job) as react:
            if self._end(job, worker, "succeeded", ran=ran, outcome=outcome):
                self.event(job.id, "succeeded", {"outcome": outcome})
                react("succeeded")
                return True
        return False

    def wait_human(self, job: Job, worker: str, *, ran: float, gate: str) -> bool:
        with self._ending(job) as react:
            if self._end(job, worker, "waiting_human", ran=ran, outcome=gate):
                self.event(job.id, "waiting_human", {"gate": gate})
                react("waiting_human")
                return True
        return False

    def fail(self, job: Job, worker: str, *, ran: float, error: str, retry: bool = True) -> str:
        """Record a failed attempt: queue a retry with exponential backoff and jitter, or,
        with the retries spent (or `retry` False), end it: dead-lettered or failed."""
        attempt = {"attempt": job.attempts, "error": error}
        if retry and job.attempts <= job.max_retries:
            policy = self.config.queue_system.retry
            delay = backoff(job.attempts, policy.base_delay, policy.max_delay)
            if self._end(
                job, worker, "queued", ran=ran, error=error, run_after=self.clock() + delay
            ):
                self.event(job.id, "retrying", {**attempt, "delay": round(delay, 3)})
                return "queued"
            return "lost"
        if not retry:
            with self._ending(job) as react:
                if self._end(job, worker, "failed", ran=ran, error=error):
                    self.event(job.id, "failed", attempt)
                    react("failed")
                    return "failed"
            return "lost"
        with self.db.transaction():
            current = self.get(job.id)
            if (
                current.status != "running"
                or current.lease_owner != worker
                or current.lease_token != job.lease_token
            ):
                return "lost"
            self.db.execute(
                "UPDATE lockstep_jobs SET run_seconds = run_seconds + ? WHERE id = ?",
                (ran, job.id),
            )
            self.dead_letter(current, error)
        return "dead_lettered"

    def dead_letter(
        self, job: Job, error: str, *, seen: tuple[str, str, float | None] | None = None
    ) -> bool:
        """Move `job` to the dead-letter queue; with `seen` (owner, token, expiry) only if
        that is still its lease (a reaper's compare-and-set). False when it was not."""
        dlq = self.config.queue_system.dead_letter_queue
        guard = f" AND {claims.LEASE_SEEN}" if seen is not None else ""
        if not self.db.rowcount(
            "UPDATE lockstep_jobs SET status = 'dead_lettered', origin_queue = queue, "
            "queue = ?, lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
            f"error = ?, finished_at = ? WHERE id = ?{guard}",
            (dlq, error, self.clock(), job.id, *(seen or ())),
        ):
            return False
        self.event(
            job.id, "dead_lettered", {"queue": dlq, "attempts": job.attempts, "error": error}
        )
        self._react_now(job, "dead_lettered")
        return True

    def _react_now(self, job: Job, status: str) -> None:
        """Run the end hooks for an end written by the caller's transaction (a reap)."""
        ended = self.get(job.id)
        for hook in END_HOOKS:
            prepared = hook.prepare(self, job)
            if prepared is not None:
                hook.ended(self, ended, status, prepared)

    def stop(self, job: Job, worker: str, status: str, *, ran: float, reason: str) -> bool:
        """End a running job at a step boundary: `cancelled` or `timed_out` (final, resumable
        with `continue_`), or `queued` (a draining worker hands it back, attempt not counted)."""
        if status == "queued":
            ok = self._end(
                job,
                worker,
                "queued",
                ran=ran,
                run_after=self.clock(),
                extra=", attempts = attempts - 1",
            )
            if ok:
                self.event(job.id, "released", {"worker": worker, "reason": reason})
            return ok
        with self._ending(job) as react:
            if self._end(job, worker, status, ran=ran, error=reason):
                self.event(job.id, status, {"reason": reason})
                react(status)
                return True
        return False
