"""Rate limits whose state lives in the shared database, so they hold across processes.

Written here rather than taken from `limits` or `pyrate-limiter`: `limits` keeps state only in
memory, Redis, Memcached or MongoDB, and `pyrate-limiter`'s SQL buckets implement one
algorithm (a sliding log) outside our transactions. A job claim must check its start limits and
take the slot in the same transaction as the claim itself, on SQLite and on Postgres, so the
three algorithms are a few lines of SQL each:

- `sliding_window`: a log of hits; allowed while the hits in the last `per` seconds stay under
  `limit`. Never more than `limit` in any window of `per` seconds.
- `token_bucket`: `burst` tokens (default `limit`) refilled at `limit/per` per second; bursts
  up to the bucket's size, then the refill rate.
- `leaky_bucket`: a meter that drains at `limit/per` per second and holds `burst` (default 1):
  requests are spaced evenly, no bursts.

Every window and refill is measured on the database's clock (`lockstep.queue.clock`), read
after the bucket's lock is taken, so workers on machines whose clocks disagree count alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from lockstep.db import Database
from lockstep.errors import ConfigError
from lockstep.queue.clock import db_now
from lockstep.queue.config import RateLimitDecl

__all__ = ["RateLimiter", "limit_key"]


def limit_key(decl: RateLimitDecl, *, user: str | None, workflow: str | None) -> str:
    """The bucket a request counts against: per user, per workflow, or one global bucket."""
    if decl.scope == "user":
        return f"user:{user or 'anonymous'}"
    if decl.scope == "workflow":
        return f"workflow:{workflow or '-'}"
    return "global"


class RateLimiter:
    """Acquire named limits against the database. `try_acquire` must run inside the caller's
    transaction when it is part of a larger decision (a claim); alone it opens its own."""

    def __init__(
        self,
        db: Database,
        limits: Mapping[str, RateLimitDecl],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.limits = dict(limits)
        self.clock: Callable[[], float] = clock or (lambda: db_now(self.db))
        """Unix seconds on the database's clock, so every process counts one window."""

    def _lock(self, name: str, key: str) -> None:
        if self.db.dialect == "postgres":
            # One transaction-scoped lock per bucket: read-then-write without a race.
            self.db.query("SELECT pg_advisory_xact_lock(hashtext(?))", (f"{name}|{key}",))

    def wait_time(
        self,
        name: str,
        key: str,
        amount: float = 1.0,
        *,
        take: bool = True,
        now: float | None = None,
    ) -> float:
        """0 when `amount` fits now (and, with `take`, is taken); else seconds until it would.
        `now` is the caller's time when it already holds the serialising lock (a claim)."""
        decl = self.limits[name]
        rate = decl.limit / decl.per
        with self.db.transaction():
            self._lock(name, key)
            if now is None:  # read after the lock: a caller that queued on it must not look back
                now = self.clock()
            if decl.strategy == "sliding_window":
                # Old hits are pruned lazily, kept a while for inspection (`lockstep_rate_hits`).
                self.db.execute(
                    "DELETE FROM lockstep_rate_hits WHERE name = ? AND key = ? AND at <= ?",
                    (name, key, now - max(2 * decl.per, 60.0)),
                )
                hits = self.db.query(
                    "SELECT at, amount FROM lockstep_rate_hits WHERE name = ? AND key = ? "
                    "AND at > ? ORDER BY at",
                    (name, key, now - decl.per),
                )
                used = sum(float(h["amount"]) for h in hits)
                if used + amount <= decl.limit:
                    if take:
                        self.db.execute(
                            "INSERT INTO lockstep_rate_hits (name, key, at, amount) "
                            "VALUES (?, ?, ?, ?)",
                            (name, key, now, amount),
                        )
                    return 0.0
                # Wait until enough of the oldest hits leave the window.
                excess = used + amount - decl.limit
                for hit in hits:
                    excess -= float(hit["amount"])
                    if excess <= 0:
                        return max(float(hit["at"]) + decl.per - now, 0.001)
                return decl.per
            rows = self.db.query(
                "SELECT level, updated FROM lockstep_rate_buckets WHERE name = ? AND key = ?",
                (name, key),
            )
            if decl.strategy == "token_bucket":
                capacity = float(decl.burst or decl.limit)
                tokens = capacity
                if rows:
                    elapsed = max(now - float(rows[0]["updated"]), 0.0)
                    tokens = min(capacity, float(rows[0]["level"]) + elapsed * rate)
                if amount > capacity:
                    raise ConfigError(f"rate limit {name!r}: {amount} exceeds its bucket size")
                if tokens < amount:
                    return (amount - tokens) / rate
                level = tokens - amount
            else:  # leaky_bucket
                capacity = float(decl.burst or 1)
                level = 0.0
                if rows:
                    elapsed = max(now - float(rows[0]["updated"]), 0.0)
                    level = max(0.0, float(rows[0]["level"]) - elapsed * rate)
                if level > 0 and level + amount > capacity:
                    return (level + amount - capacity) / rate
                level += amount
            if take:
                self.db.execute(
                    "INSERT INTO lockstep_rate_buckets (name, key, level, updated) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET "
                    "level = excluded.level, updated = excluded.updated",
                    (name, key, level, now),
                )
            return 0.0

    def used(self, name: str, key: str, *, now: float | None = None) -> float:
        """What the sliding log holds in the current window (for `tokens` limits)."""
        decl = self.limits[name]
        rows = self.db.query(
            "SELECT COALESCE(SUM(amount), 0) AS used FROM lockstep_rate_hits "
            "WHERE name = ? AND key = ? AND at > ?",
            (name, key, (self.clock() if now is None else now) - decl.per),
        )
        return float(rows[0]["used"])

    def record(self, name: str, key: str, amount: float) -> None:
        """Add usage measured after the fact (LLM tokens a job spent)."""
        if amount > 0:
            self.db.execute(
                "INSERT INTO lockstep_rate_hits (name, key, at, amount) VALUES (?, ?, ?, ?)",
                (name, key, self.clock(), amount),
            )

    def acquire(
        self,
        name: str,
        *,
        user: str | None = None,
        workflow: str | None = None,
        amount: float = 1.0,
        max_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> float:
        """Block until `amount` of the named limit is available and take it; returns the
        seconds waited. Past `max_wait`, raise TimeoutError. An undeclared name is an error."""
        if name not in self.limits:
            known = ", ".join(sorted(self.limits)) or "none declared"
            raise ConfigError(f"unknown rate limit {name!r}: {known}")
        key = limit_key(self.limits[name], user=user, workflow=workflow)
        waited = 0.0
        while True:
            wait = self.wait_time(name, key, amount)
            if wait <= 0:
                return waited
            if max_wait is not None and waited + wait > max_wait:
                raise TimeoutError(f"rate limit {name!r} needs {wait:.1f}s more")
            sleep(wait)
            waited += wait
