"""The artifact store: every output is a versioned, checksummed artifact with its lineage.

Metadata rows live in the same database as the checkpoints; content lives once per sha256 in a
blob store (`lockstep.artifacts.blobs`: the database's own table on PostgreSQL, a folder beside
the file on SQLite, or an fsspec URL). Graph state keeps only `ArtifactRef(id, version, sha256)`.
Every write is journaled in the audit log.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockstep.artifacts.blobs import (
    BlobStore,
    DatabaseBlobStore,
    FolderBlobStore,
    FsspecBlobStore,
    open_blob_store,
)
from lockstep.db import Database
from lockstep.errors import ArtifactError, StorageError
from lockstep.state.machine import ArtifactRef

__all__ = [
    "Artifact",
    "ArtifactStore",
    "BlobStore",
    "DatabaseBlobStore",
    "FolderBlobStore",
    "FsspecBlobStore",
    "diff_artifacts",
    "open_blob_store",
    "parse_spec",
    "verify_export",
]

_SHA = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
STATUSES = ("complete", "incomplete", "superseded")


def check_id(artifact_id: str) -> str:
    """An artifact id as lockstep makes them (`name-hex`): no separators, no `..`."""
    if not _ID.match(artifact_id) or ".." in artifact_id:
        raise ArtifactError(f"invalid artifact id {artifact_id!r}")
    return artifact_id


def parse_spec(spec: str) -> tuple[str, int | None]:
    """`ID` or `ID@VERSION` -> (id, version or None)."""
    artifact_id, sep, version = spec.partition("@")
    if sep and not version.isdigit():
        raise ArtifactError(f"invalid artifact version in {spec!r}: use ID@N with N >= 1")
    return check_id(artifact_id), (int(version) if sep else None)


@dataclass(frozen=True)
class Artifact:
    """One version of an artifact: its metadata, and its content on demand."""

    id: str
    version: int
    thread_id: str
    name: str
    step: str
    created_at: str
    created_by: str
    format: str
    size: int
    sha256: str
    status: str
    parent_version: int | None = None
    inputs: list[ArtifactRef] = field(default_factory=list)
    type: str | None = None
    """The kind of artifact: `section` for `section-3`, else the name."""
    score: float | None = None
    """An optional evaluation score."""
    location: str | None = None
    """Where the content lives (blob path or URL)."""
    superseded_at: str | None = None
    """When a rollback made this version obsolete (status `superseded`)."""

    @property
    def ref(self) -> ArtifactRef:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version} ({self.id})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "thread_id": self.thread_id,
            "name": self.name,
            "step": self.step,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
            "status": self.status,
            "parent_version": self.parent_version,
            "inputs": self.inputs,
            "type": self.type or _type_of(self.name),
            "score": self.score,
            "location": self.location,
            "superseded_at": self.superseded_at,
        }


def _type_of(name: str) -> str:
    return re.sub(r"-\d+$", "", name)


def _encode(content: str | bytes | Any, fmt: str | None) -> tuple[bytes, str]:
    if isinstance(content, bytes):
        return content, fmt or "binary"
    if isinstance(content, str):
        return content.encode("utf-8"), fmt or "text"
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).encode(), "json"


class ArtifactStore:
    """Writes and reads artifacts; `put` is idempotent for a re-run step with the same output,
    and safe under concurrent writers (a unique (thread, name, version) key, retried)."""

    def __init__(self, db: Database, blobs: BlobStore | None = None) -> None:
        self.db = db
        self.blobs: BlobStore = blobs or open_blob_store(db.location.blob_url, db)

    def put(
        self,
        thread_id: str,
        name: str,
        content: str | bytes | Any,
        *,
        step: str,
        created_by: str | None = None,
        inputs: Sequence[ArtifactRef] = (),
        format: str | None = None,
        status: str = "complete",
        score: float | None = None,
    ) -> ArtifactRef:
        """Store a new version of the thread's artifact `name`, or return the latest version
        when it already holds the same content (a step re-run after a crash)."""
        if status not in STATUSES:
            raise ArtifactError(f"invalid artifact status {status!r}")
        data, fmt = _encode(content, format)
        sha = self.blobs.put(data)
        by = created_by or f"step:{step}"
        for _ in range(20):
            latest = self.latest(thread_id, name)
            if (
                latest is not None
                and latest.sha256 == sha
                and latest.step == step
                and latest.status == status
            ):
                return latest.ref
            artifact_id = latest.id if latest else f"{name}-{uuid.uuid4().hex[:10]}"
            version = latest.version + 1 if latest else 1
            written = self.db.insert_unique(
                "INSERT INTO lockstep_artifacts (id, version, thread_id, name, step, created_at, "
                "created_by, parent_version, inputs, format, size, sha256, status, type, score, "
                "location) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    artifact_id,
                    version,
                    thread_id,
                    name,
                    step,
                    datetime.now(UTC).isoformat(),
                    by,
                    latest.version if latest else None,
                    json.dumps([dict(r) for r in inputs]),
                    fmt,
                    len(data),
                    sha,
                    status,
                    _type_of(name),
                    score,
                    self.blobs.location(sha),
                ),
            )
            if written:
                break
        else:
            raise StorageError(f"could not allocate a version of {name!r} in thread {thread_id}")
        ref: ArtifactRef = {"id": artifact_id, "version": version, "sha256": sha}
        self.db.record(
            thread_id,
            "artifact",
            {"name": name, **ref, "step": step, "status": status, "size": len(data)},
            by,
        )
        return ref

    def _rows(self, where: str, params: Sequence[Any]) -> list[Artifact]:
        rows = self.db.query(f"SELECT * FROM lockstep_artifacts WHERE {where}", params)
        return [Artifact(**{**r, "inputs": json.loads(r["inputs"])}) for r in rows]

    def meta(self, artifact_id: str, version: int | None = None) -> Artifact:
        """Metadata of one version (the latest when `version` is None)."""
        check_id(artifact_id)
        if version is None:
            rows = self._rows("id = ? ORDER BY version DESC LIMIT 1", (artifact_id,))
        else:
            rows = self._rows("id = ? AND version = ?", (artifact_id, version))
        if not rows:
            at = f"@{version}" if version is not None else ""
            raise ArtifactError(f"unknown artifact {artifact_id}{at}")
        return rows[0]

    def get(self, spec: str) -> Artifact:
        """Metadata for `ID` (latest version) or `ID@VERSION`."""
        return self.meta(*parse_spec(spec))

    def versions(self, artifact_id: str) -> list[Artifact]:
        return self._rows("id = ? ORDER BY version", (check_id(artifact_id),))

    def latest(self, thread_id: str, name: str) -> Artifact | None:
        rows = self._rows(
            "thread_id = ? AND name = ? ORDER BY version DESC LIMIT 1", (thread_id, name)
        )
        return rows[0] if rows else None

    def latest_complete(self, thread_id: str, name: str) -> Artifact | None:
        """The newest version that is neither superseded nor incomplete."""
        rows = self._rows(
            "thread_id = ? AND name = ? AND status = 'complete' ORDER BY version DESC LIMIT 1",
            (thread_id, name),
        )
        return rows[0] if rows else None

    def of_thread(self, thread_id: str) -> list[Artifact]:
        """Every version of every artifact of a thread, oldest first."""
        return self._rows("thread_id = ? ORDER BY created_at, id, version", (thread_id,))

    def supersede_after(self, thread_id: str, after: str, at: str) -> list[Artifact]:
        """Mark every complete version written after the ISO time `after` as superseded."""
        rows = self._rows(
            "thread_id = ? AND created_at > ? AND status <> 'superseded' ORDER BY created_at",
            (thread_id, after),
        )
        for a in rows:
            self.db.execute(
                "UPDATE lockstep_artifacts SET status = 'superseded', superseded_at = ? "
                "WHERE id = ? AND version = ?",
                (at, a.id, a.version),
            )
        return rows

    def read(self, ref: ArtifactRef | Artifact) -> bytes:
        """Content of a version, verified against its recorded sha256."""
        meta = ref if isinstance(ref, Artifact) else self.meta(ref["id"], ref["version"])
        return self.blobs.get(meta.sha256, label=meta.label)

    def text(self, ref: ArtifactRef | Artifact) -> str:
        return self.read(ref).decode("utf-8")

    def json(self, ref: ArtifactRef | Artifact) -> Any:
        return json.loads(self.read(ref))

    # -- lineage -----------------------------------------------------------------------------

    def lineage(self, spec: str) -> dict[str, Any]:
        """Ancestors (inputs and earlier versions, transitively) and descendants (versions
        that used this one as an input, transitively) of `ID[@VERSION]`."""
        root = self.get(spec)
        rows = {(a.id, a.version): a for a in self.of_thread(root.thread_id)}
        users: dict[tuple[str, int], list[Artifact]] = {}
        for a in rows.values():
            for r in a.inputs:
                users.setdefault((r["id"], r["version"]), []).append(a)
            if a.parent_version is not None:
                users.setdefault((a.id, a.parent_version), []).append(a)

        def parents(a: Artifact) -> list[Artifact]:
            keys = [(r["id"], r["version"]) for r in a.inputs]
            if a.parent_version is not None:
                keys.append((a.id, a.parent_version))
            return [rows[k] for k in keys if k in rows]

        def walk(start: Artifact, step: Any) -> list[Artifact]:
            seen: dict[tuple[str, int], Artifact] = {}
            todo = list(step(start))
            while todo:
                a = todo.pop()
                if (a.id, a.version) in seen:
                    continue
                seen[(a.id, a.version)] = a
                todo.extend(step(a))
            return sorted(seen.values(), key=lambda a: (a.created_at, a.id, a.version))

        return {
            "artifact": root.to_dict(),
            "ancestors": [a.to_dict() for a in walk(root, parents)],
            "descendants": [
                a.to_dict() for a in walk(root, lambda a: users.get((a.id, a.version), []))
            ],
        }

    # -- export ------------------------------------------------------------------------------

    def export(self, thread_id: str, directory: str | Path) -> dict[str, Any]:
        """Write every version of a thread's artifacts to `directory` (which must not exist or
        be empty) with a manifest.json of their metadata; built in a temporary sibling folder
        and renamed into place, so a failure leaves nothing half-written."""
        target = _safe_dir(directory)
        items = self.of_thread(thread_id)
        if not items:
            raise ArtifactError(f"thread {thread_id} has no artifacts to export")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            entries = []
            for a in items:
                filename = f"{a.name}@{a.version}{_EXT.get(a.format, '.bin')}"
                (tmp / filename).write_bytes(self.read(a))
                entries.append({**a.to_dict(), "file": filename})
            manifest = {"thread_id": thread_id, "artifacts": entries}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            if target.exists():
                target.rmdir()  # empty (checked above); replaced atomically below
            os.replace(tmp, target)
        except BaseException:
            for child in tmp.glob("*"):
                child.unlink()
            tmp.rmdir()
            raise
        return manifest


_EXT = {"markdown": ".md", "json": ".json", "text": ".txt", "binary": ".bin", "zip": ".zip"}


def _safe_dir(directory: str | Path) -> Path:
    """An export folder given without `..` components, not yet existing or empty."""
    path = Path(directory)
    if ".." in path.parts:
        raise ArtifactError(f"refusing export directory {str(directory)!r}: it contains '..'")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ArtifactError(f"export directory {path} exists and is not empty")
    return path.absolute()


def verify_export(directory: str | Path) -> list[str]:
    """Re-hash an export's files against its manifest; the problems found (empty when good)."""
    root = Path(directory)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {root / 'manifest.json'}: {exc}") from None
    problems = []
    for entry in manifest["artifacts"]:
        name = entry["file"]
        if "/" in name or "\\" in name or name.startswith("."):
            problems.append(f"{name}: unsafe file name")
            continue
        try:
            data = (root / name).read_bytes()
        except OSError:
            problems.append(f"{name}: missing")
            continue
        if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
            problems.append(f"{name}: checksum mismatch")
    return problems


def diff_artifacts(old: Artifact, old_bytes: bytes, new: Artifact, new_bytes: bytes) -> str:
    """A unified diff for text, a key-level diff (added/removed/changed paths) for JSON."""
    if old.format == "json" and new.format == "json":
        before, after = _flatten(json.loads(old_bytes)), _flatten(json.loads(new_bytes))
        lines = [f"--- {old.label}", f"+++ {new.label}"]
        for key in sorted(before.keys() | after.keys()):
            if key not in after:
                lines.append(f"- {key}: {json.dumps(before[key])}")
            elif key not in before:
                lines.append(f"+ {key}: {json.dumps(after[key])}")
            elif before[key] != after[key]:
                lines.append(f"~ {key}: {json.dumps(before[key])} -> {json.dumps(after[key])}")
        return "\n".join(lines) + "\n"
    try:
        a, b = old_bytes.decode("utf-8"), new_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary artifacts differ: {old.sha256[:12]} -> {new.sha256[:12]}\n"
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile=old.label,
            tofile=new.label,
        )
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": [1]}}` -> `{"a.b[0]": 1}`: leaves by path, for a key-level diff."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix or "$": value}
