"""Database setup, the artifact store and the public API surface."""

from __future__ import annotations

from pathlib import Path

import pytest

import lockstep
from lockstep import ArtifactError, ArtifactStore, Database, StorageError
from lockstep.db import MIGRATIONS


def test_public_api_is_exported() -> None:
    for name in lockstep.__all__:
        assert getattr(lockstep, name) is not None, name
    assert {"Lockstep", "ThreadStatus", "verify", "compile_machine"} <= set(lockstep.__all__)


def test_migrations_are_idempotent(db_url: str) -> None:
    Database(db_url).close()
    db = Database(db_url)
    db.setup()
    versions = [r["version"] for r in db.query("SELECT version FROM lockstep_migrations")]
    assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))
    db.close()


def test_artifacts_version_with_parents_and_dedupe(db_url: str) -> None:
    db = Database(db_url)
    store = ArtifactStore(db)
    v1 = store.put("t", "draft", "first", step="drafting", format="markdown")
    again = store.put("t", "draft", "first", step="drafting", format="markdown")
    assert again == v1  # a re-run step with identical output is not a new version
    v2 = store.put("t", "draft", "second", step="drafting", inputs=[v1], format="markdown")
    assert (v1["version"], v2["version"]) == (1, 2) and v1["id"] == v2["id"]
    meta = store.meta(v2["id"], 2)
    assert meta.parent_version == 1 and meta.inputs == [dict(v1)]
    assert meta.size == len(b"second") and store.text(v2) == "second"
    assert store.latest("t", "draft").version == 2  # type: ignore[union-attr]
    assert store.json(store.put("t", "report", {"ok": True}, step="verifying")) == {"ok": True}
    with pytest.raises(ArtifactError, match=r"unknown artifact nope@3"):
        store.meta("nope", 3)
    db.close()


def test_blob_checksum_mismatch_fails_loudly(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = ArtifactStore(db)
    ref = store.put("t", "draft", "the real text", step="drafting")
    path = next(p for p in (tmp_path).rglob(ref["sha256"]) if p.is_file())
    path.write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="checksum"):
        store.text(ref)
    db.close()


def test_corrupt_database_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 200)
    with pytest.raises(
        StorageError, match=f"cannot open SQLite database {bad}: file is not a database"
    ):
        Database(f"sqlite:///{bad}")
