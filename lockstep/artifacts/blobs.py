"""Where artifact content lives: content-addressed blobs, stored once per sha256, verified on
every read.

Three stores share one interface (`BlobStore`):

- `DatabaseBlobStore`: the `lockstep_blobs` table in lockstep's own database — the default
  with PostgreSQL, so a second machine needs nothing but the database URL.
- `FolderBlobStore`: `<root>/<sha[:2]>/<sha>` files — the default with SQLite, in `blobs/`
  beside the database file.
- `FsspecBlobStore`: the same layout on any fsspec filesystem (`s3://bucket/prefix`, ...).

Which one a database uses is decided in one place, `lockstep.db.DatabaseURL.blob_url`.

Why a table of `bytea` rather than PostgreSQL large objects (measured on PostgreSQL 16,
one connection, blobs of random bytes, per blob write / read):

    2 KB       bytea 1.0 / 0.28 ms    large object 1.3 / 0.29 ms
    50 KB      bytea 2.3 / 1.1 ms     large object 2.6 / 1.2 ms
    1 MB       bytea 20 / 14 ms       large object 26 / 15 ms
    20 MB      bytea 418 / 322 ms     large object 562 / 255 ms

Reads are alike, writes are 10-35 % faster as `bytea`, and it stores less (100 MB of random
blobs: 100 MB as `bytea`, 129 MB in `pg_largeobject`). More decisive: a `bytea` row is deleted
with a `DELETE` (a large object needs `lo_unlink`, and one missed leaves an orphan only
`vacuumlo` finds), it travels with logical replication and `pg_dump -t` (large objects do not),
and the same table and SQL work on SQLite (`BLOB`). The cost is a 1 GB ceiling per blob and
whole-blob reads, which artifacts (read whole anyway) never approach.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lockstep.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from lockstep.db import Database

__all__ = [
    "DATABASE",
    "BlobMissing",
    "BlobStore",
    "DatabaseBlobStore",
    "FolderBlobStore",
    "FsspecBlobStore",
    "open_blob_store",
]

DATABASE = "database"
"""The blob URL meaning "the `lockstep_blobs` table of the same database"."""

_SHA = re.compile(r"^[0-9a-f]{64}$")


def _check(sha256: str) -> str:
    if not _SHA.match(sha256):
        raise ArtifactError(f"invalid sha256 {sha256!r}")
    return sha256


def _verified(content: bytes, sha256: str, label: str | None, where: str) -> bytes:
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256:
        raise ArtifactError(
            f"checksum mismatch for {label or 'blob'}: expected {sha256[:12]}, "
            f"found {actual[:12]} in {where}"
        )
    return content


class BlobMissing(ArtifactError):
    """No store holds the blob."""


def _missing(sha256: str, label: str | None) -> BlobMissing:
    return BlobMissing(f"blob {sha256[:12]} of {label or 'artifact'} is missing")


@runtime_checkable
class BlobStore(Protocol):
    """Content by sha256: `put` returns the sha256, `get` verifies it."""

    def location(self, sha256: str) -> str:
        """Where the content lives, recorded on each artifact row."""
        ...

    def put(self, content: bytes) -> str: ...

    def get(self, sha256: str, *, label: str | None = None) -> bytes: ...

    def shas(self) -> Iterator[tuple[str, float]]:
        """Every stored blob with the time it was stored (for garbage collection)."""
        ...

    def delete(self, sha256: str) -> None: ...

    def describe(self) -> str:
        """The store named for messages and `lockstep doctor`."""
        ...


class FolderBlobStore:
    """Content-addressed files: `<root>/<sha[:2]>/<sha>`, written atomically, read verified."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / _check(sha256)[:2] / sha256

    def location(self, sha256: str) -> str:
        return str(self._path(sha256))

    def describe(self) -> str:
        return str(self.root)

    def shas(self) -> Iterator[tuple[str, float]]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/*"):
            if _SHA.match(path.name):
                yield path.name, path.stat().st_mtime

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

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
            raise _missing(sha256, label) from None
        return _verified(content, sha256, label, str(path))


class FsspecBlobStore:
    """The same content-addressed layout on any fsspec filesystem (`s3://bucket/prefix`,
    `gcs://...`, `memory://...`); needs the `fsspec` extra and the filesystem's own package
    (`s3fs` for S3, with the `s3` extra)."""

    def __init__(self, url: str, **options: Any) -> None:
        try:
            import fsspec
        except ImportError:
            raise ConfigError(
                f"blob store {url!r} needs fsspec: pip install 'lockstep[fsspec]'"
            ) from None
        self.url = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError as exc:
            raise ConfigError(f"blob store {url!r} needs a package: {exc}") from None
        self.root: str = root.rstrip("/")

    def _path(self, sha256: str) -> str:
        return f"{self.root}/{_check(sha256)[:2]}/{sha256}"

    def location(self, sha256: str) -> str:
        return f"{self.url}/{_check(sha256)[:2]}/{sha256}"

    def describe(self) -> str:
        return self.url

    def put(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self._path(sha)
        if not self.fs.exists(path):
            self.fs.pipe_file(path, content)  # object stores write a key atomically
        return sha

    def get(self, sha256: str, *, label: str | None = None) -> bytes:
        path = self._path(sha256)
        try:
            content: bytes = self.fs.cat_file(path)
        except FileNotFoundError:
            raise _missing(sha256, label) from None
        return _verified(content, sha256, label, self.location(sha256))

    def shas(self) -> Iterator[tuple[str, float]]:
        if not self.fs.exists(self.root):
            return
        for path, info in self.fs.find(self.root, detail=True).items():
            name = path.rsplit("/", 1)[-1]
            if _SHA.match(name):
                mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
                stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
                yield name, stamp

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        if self.fs.exists(path):
            self.fs.rm_file(path)


class DatabaseBlobStore:
    """Blobs as rows of `lockstep_blobs` (sha256, size, stored_at, content) in lockstep's own
    database: every machine that has the URL has the content.

    Databases from before this table kept blobs in a folder (`LOCKSTEP_BLOB_DIR`, else
    `./.lockstep/blobs` of the writing process) and recorded each file's path on its artifact
    row. A blob not in the table is looked for there (`legacy_roots`), verified, and copied
    into the table, so the first machine that still has the folder heals it for all others.
    The upgrade itself copies nothing: a migration runs on whichever machine opens the
    database first, which need not be the one holding the folder.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._legacy: list[BlobStore] | None = None

    def location(self, sha256: str) -> str:
        return f"{DATABASE}:{_check(sha256)}"

    def describe(self) -> str:
        return f"table lockstep_blobs in {self.db.describe()}"

    def put(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        if not self._has(sha):
            self.db.execute(
                "INSERT INTO lockstep_blobs (sha256, size, stored_at, content) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (sha256) DO NOTHING",
                (sha, len(content), time.time(), content),
            )
        return sha

    def _has(self, sha256: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM lockstep_blobs WHERE sha256 = ?", (sha256,)))

    def get(self, sha256: str, *, label: str | None = None) -> bytes:
        rows = self.db.query(
            "SELECT content FROM lockstep_blobs WHERE sha256 = ?", (_check(sha256),)
        )
        if rows:
            return _verified(bytes(rows[0]["content"]), sha256, label, self.location(sha256))
        for store in self.legacy_roots():
            try:
                content = store.get(sha256, label=label)
            except BlobMissing:
                continue
            self.put(content)
            return content
        raise _missing(sha256, label)

    def legacy_roots(self) -> list[BlobStore]:
        """Blob folders (or fsspec URLs) that artifact rows written before the table name;
        relative folders are read from the current directory, as they were written."""
        if self._legacy is None:
            rows = self.db.query(
                "SELECT DISTINCT substr(location, 1, length(location) - 68) AS root "
                "FROM lockstep_artifacts WHERE length(location) > 68 AND location NOT LIKE ?",
                (f"{DATABASE}:%",),
            )
            self._legacy = []
            for root in sorted({r["root"] for r in rows if r["root"]}):
                try:
                    self._legacy.append(open_blob_store(root))
                except ConfigError:  # an fsspec URL whose package is not installed here
                    continue
        return self._legacy

    def shas(self) -> Iterator[tuple[str, float]]:
        for row in self.db.query("SELECT sha256, stored_at FROM lockstep_blobs"):
            yield row["sha256"], float(row["stored_at"])

    def delete(self, sha256: str) -> None:
        self.db.execute("DELETE FROM lockstep_blobs WHERE sha256 = ?", (_check(sha256),))

    def missing(self) -> int:
        """How many blobs artifact rows name that the table does not hold (readable only
        from a legacy folder, if at all)."""
        rows = self.db.query(
            "SELECT COUNT(DISTINCT a.sha256) AS n FROM lockstep_artifacts a "
            "LEFT JOIN lockstep_blobs b ON b.sha256 = a.sha256 WHERE b.sha256 IS NULL"
        )
        return int(rows[0]["n"])


def open_blob_store(location: str | Path, db: Database | None = None) -> BlobStore:
    """`database` (needs `db`), an fsspec URL (anything with `://` other than `file://`), or a
    local directory."""
    text = str(location)
    if text == DATABASE:
        if db is None:
            raise ConfigError("the database blob store needs a database")
        return DatabaseBlobStore(db)
    if "://" in text and not text.startswith("file://"):
        return FsspecBlobStore(text)
    return FolderBlobStore(text.removeprefix("file://"))
