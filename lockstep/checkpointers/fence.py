"""Checkpoint writes fenced by a job's lease.

A worker runs a job's thread while it holds the job's lease. If the lease lapses (the worker
stalled, or lost the database for longer than the visibility timeout) another worker may take
the job over and append to the same thread. Then the first worker must not append too: its
saver checks, in the transaction that writes the checkpoint, that the job row still carries the
lease token this worker's claim wrote. On Postgres the check takes a `FOR SHARE` lock on the
job row, so a reap cannot slip between the check and the write; on SQLite the check and the
write share one `BEGIN IMMEDIATE` transaction (one writer at a time). A refused write raises
`LeaseLost`, which ends the run at that step boundary with nothing written. The savers are in
`lockstep.checkpointers.fenced`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockstep.errors import LockstepError

__all__ = ["HOLDS", "Fence", "LeaseLost"]

HOLDS = (
    "SELECT 1 AS held FROM lockstep_jobs "
    "WHERE id = {p} AND lease_token = {p} AND status = 'running'"
)


class LeaseLost(LockstepError):
    """A checkpoint write was refused: the job's lease is no longer this worker's."""


@dataclass
class Fence:
    """The lease a saver writes under: set per job by the worker (None: write unfenced)."""

    job_id: str | None = None
    token: str | None = None

    def refuse(self) -> LeaseLost:
        return LeaseLost(
            f"job {self.job_id}: its lease was taken over; this worker's checkpoint write "
            "was refused"
        )
