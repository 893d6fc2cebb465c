"""The artifact store: every output is a versioned, checksummed artifact with its lineage.

Metadata rows live in the same database as the checkpoints; content lives once per sha256 in a
blob directory. Graph state keeps only `ArtifactRef(id, version, sha256)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockstep.db import Database
from lockstep.errors import ArtifactError
from lockstep.state.machine import ArtifactRef

__all__ = ["Artifact", "ArtifactStore", "BlobStore"]


class BlobStore:
    """Content-addressed files: `<root>/<sha[:2]>/<sha>`, written atomically, read verified."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ArtifactError(f"invalid sha256 {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self._path(sha)
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
        return sha

    def get(self, sha256: str, *, label: str | None = None) -> bytes:
        path = self._path(sha256)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"blob {sha256[:12]} of {label or 'artifact'} is missing") from None
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256:
            raise ArtifactError(
                f"checksum mismatch for {label or 'blob'}: expected {sha256[:12]}, "
                f"found {actual[:12]} in {path}"
            )
        return content


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
        }


def _encode(content: str | bytes | Any, fmt: str | None) -> tuple[bytes, str]:
    if isinstance(content, bytes):
        return content, fmt or "binary"
    if isinstance(content, str):
        return content.encode("utf-8"), fmt or "text"
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).encode(), "json"


class ArtifactStore:
    """Writes and reads artifacts; `put` is idempotent for a re-run step with the same output."""

    def __init__(self, db: Database, blobs: BlobStore | None = None) -> None:
        self.db = db
        self.blobs = blobs or BlobStore(db.location.blob_dir)

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
    ) -> ArtifactRef:
        """Store a new version of the thread's artifact `name`, or return the latest version
        when it already holds the same content (a step re-run after a crash)."""
        data, fmt = _encode(content, format)
        sha = self.blobs.put(data)
        latest = self.latest(thread_id, name)
        if latest is not None and latest.sha256 == sha and latest.step == step:
            return latest.ref
        artifact_id = latest.id if latest else f"{name}-{uuid.uuid4().hex[:10]}"
        version = latest.version + 1 if latest else 1
        self.db.execute(
            "INSERT INTO lockstep_artifacts (id, version, thread_id, name, step, created_at, "
            "created_by, parent_version, inputs, format, size, sha256, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                artifact_id,
                version,
                thread_id,
                name,
                step,
                datetime.now(UTC).isoformat(),
                created_by or f"step:{step}",
                latest.version if latest else None,
                json.dumps([dict(r) for r in inputs]),
                fmt,
                len(data),
                sha,
                status,
            ),
        )
        return {"id": artifact_id, "version": version, "sha256": sha}

    def _rows(self, where: str, params: Sequence[Any]) -> list[Artifact]:
        rows = self.db.query(f"SELECT * FROM lockstep_artifacts WHERE {where}", params)
        return [
            Artifact(**{**r, "inputs": json.loads(r["inputs"])})  # type: ignore[arg-type]
            for r in rows
        ]

    def meta(self, artifact_id: str, version: int | None = None) -> Artifact:
        """Metadata of one version (the latest when `version` is None)."""
        if version is None:
            rows = self._rows("id = ? ORDER BY version DESC LIMIT 1", (artifact_id,))
        else:
            rows = self._rows("id = ? AND version = ?", (artifact_id, version))
        if not rows:
            at = f"@{version}" if version is not None else ""
            raise ArtifactError(f"unknown artifact {artifact_id}{at}")
        return rows[0]

    def latest(self, thread_id: str, name: str) -> Artifact | None:
        rows = self._rows(
            "thread_id = ? AND name = ? ORDER BY version DESC LIMIT 1", (thread_id, name)
        )
        return rows[0] if rows else None

    def list(self, thread_id: str) -> list[Artifact]:
        """Every version of every artifact of a thread, oldest first."""
        return self._rows("thread_id = ? ORDER BY created_at, id, version", (thread_id,))

    def read(self, ref: ArtifactRef | Artifact) -> bytes:
        """Content of a version, verified against its recorded sha256."""
        meta = ref if isinstance(ref, Artifact) else self.meta(ref["id"], ref["version"])
        return self.blobs.get(meta.sha256, label=meta.label)

    def text(self, ref: ArtifactRef | Artifact) -> str:
        return self.read(ref).decode("utf-8")

    def json(self, ref: ArtifactRef | Artifact) -> Any:
        return json.loads(self.read(ref))
