"""Retention: `prune` removes finished threads' checkpoints (and, asked, their artifacts),
then the blobs only they referenced."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from lockstep.artifacts.store import Artifact
from lockstep.errors import (
    ArtifactError,
    ConfigError,
)
from lockstep.threads import (
    ThreadsBase,
)

__all__ = ["Retention", "parse_age"]


class Retention(ThreadsBase):
    """`Lockstep.prune`."""

    def _checkpoint_count(self, thread_id: str) -> int:
        rows = self.db.query(
            "SELECT COUNT(*) AS n FROM checkpoints WHERE thread_id = ?", (thread_id,)
        )
        return int(rows[0]["n"])

    def _prune_checkpoints(self, thread_id: str, keep_latest: bool) -> None:
        strategy = "keep_latest" if keep_latest else "delete"
        if self.db.dialect == "postgres":
            self.checkpointer.prune([thread_id], strategy=strategy)  # the saver's own prune
            return
        if not keep_latest:
            self.checkpointer.delete_thread(thread_id)
            return
        head = self.db.query(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        )
        if not head:
            return
        keep = head[0]["checkpoint_id"]
        for table in ("writes", "checkpoints"):
            self.db.execute(
                f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id <> ?", (thread_id, keep)
            )
        self.db.execute(
            "UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ?", (thread_id,)
        )

    def prune(
        self,
        older_than: timedelta,
        *,
        keep_latest: bool = False,
        dry_run: bool = False,
        artifacts: bool = False,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Delete checkpoints of finished threads idle for longer than `older_than` (all, or
        all but the latest). With `artifacts=True` also their artifacts, and the blobs only
        those held; the audit log always stays. Running and waiting threads are never touched."""
        cutoff = self._clock() - older_than
        report: dict[str, Any] = {
            "cutoff": cutoff.isoformat(),
            "dry_run": dry_run,
            "threads": [],
            "skipped": [],
        }
        for row in self.db.threads():
            thread_id = row["thread_id"]
            st = self.status(thread_id)
            if st.updated_at is not None and datetime.fromisoformat(st.updated_at) > cutoff:
                continue
            if not st.final and st.updated_at is not None:
                report["skipped"].append({"thread_id": thread_id, "status": st.status})
                continue
            before = self._checkpoint_count(thread_id)
            deleted = before - (1 if keep_latest and before else 0)
            removed_artifacts = len(self.artifacts.of_thread(thread_id)) if artifacts else 0
            if deleted <= 0 and not removed_artifacts:
                continue
            report["threads"].append(
                {"thread_id": thread_id, "checkpoints": deleted, "artifacts": removed_artifacts}
            )
            if dry_run:
                continue
            if deleted > 0:
                self._prune_checkpoints(thread_id, keep_latest)
            self.db.record(
                thread_id,
                "prune",
                {
                    "checkpoints": deleted,
                    "artifacts": removed_artifacts,
                    "keep_latest": keep_latest,
                },
                by or "unknown",
            )
        removed = {t["thread_id"] for t in report["threads"] if t["artifacts"]}
        dead = self._dead_blobs(removed)
        report["blobs"] = len(dead)
        if not dry_run:
            for thread_id in removed:  # rows first: a blob left behind is harmless, a row
                self.db.execute(  # pointing at a deleted blob is not
                    "DELETE FROM lockstep_artifacts WHERE thread_id = ?", (thread_id,)
                )
            for sha in dead:
                self.artifacts.blobs.delete(sha)
        return report

    def _blob_refs(self, rows: list[Artifact]) -> set[str]:
        """Blobs these artifacts hold: their own content, and any `sha256` field inside a JSON
        artifact (the research report's gathered sources are stored as blobs of their own)."""
        shas = {a.sha256 for a in rows}
        for a in rows:
            if a.format == "json":
                try:
                    shas |= _shas(self.artifacts.json(a))
                except (ArtifactError, ValueError):
                    continue
        return shas

    def _dead_blobs(self, removed: set[str]) -> list[str]:
        """Blobs that artifacts of the `removed` threads hold and no other artifact in this
        database does. Blobs this database never referenced are left alone, so a blob folder
        shared by mistake with another database loses nothing of the other's."""
        if not removed:
            return []
        everything = self.artifacts._rows("1 = 1", ())
        gone = self._blob_refs([a for a in everything if a.thread_id in removed])
        live = self._blob_refs([a for a in everything if a.thread_id not in removed])
        stored = {sha for sha, _ in self.artifacts.blobs.shas()}
        return sorted((gone - live) & stored)


def _shas(value: Any) -> set[str]:
    """Every `sha256` string field inside a JSON document."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == "sha256" and isinstance(v, str):
                found.add(v)
            else:
                found |= _shas(v)
    elif isinstance(value, list):
        for v in value:
            found |= _shas(v)
    return found


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `45s` or `2w` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not match:
        raise ConfigError(f"invalid age {text!r}: use a number and a unit, e.g. 7d, 12h, 30m")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})
