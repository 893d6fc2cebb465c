"""The queue's one clock: the database server's.

Leases, retry times, rate-limit windows and lifecycle events are compared across processes and
machines, so they are read from the database (`clock_timestamp()` on Postgres, the SQLite
library's `julianday('now')` on SQLite, where every process shares one machine's clock) rather
than from each process's `time.time()`. `clock_timestamp()`, not `now()`: `now()` is the
transaction's start, which for a claim that queued on a lock is in the past.

`LOCKSTEP_TEST_CLOCK_SKEW` (seconds) shifts a worker process's own `time.time()`: tests use it
to run workers whose clocks disagree, proving no decision reads the process clock.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockstep.db import Database

__all__ = ["NOW_SQL", "SKEW_ENV", "db_now", "skew_process_clock"]

NOW_SQL = {
    "postgres": "extract(epoch from clock_timestamp())::float8",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
"""The database's current time as Unix seconds, as an SQL expression per dialect."""

SKEW_ENV = "LOCKSTEP_TEST_CLOCK_SKEW"


def db_now(db: Database) -> float:
    """The database server's current time, Unix seconds."""
    return float(db.query(f"SELECT {NOW_SQL[db.dialect]} AS now")[0]["now"])


def skew_process_clock() -> float:
    """Shift this process's `time.time()` by `LOCKSTEP_TEST_CLOCK_SKEW` seconds (tests only:
    a machine whose clock is off); returns the skew applied."""
    skew = float(os.environ.get(SKEW_ENV) or 0)
    if skew and not getattr(time.time, "skewed", False):
        real = time.time

        def skewed() -> float:
            return real() + skew

        skewed.skewed = True  # type: ignore[attr-defined]
        time.time = skewed
    return skew
