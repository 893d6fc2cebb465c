"""Where artifact content lives: the database's own table (PostgreSQL's default), a folder beside
the SQLite file (SQLite's default), an S3 bucket on a real S3-compatible server (moto's, on
127.0.0.1), and databases upgraded from when blobs lived in a folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockstep import ArtifactError, ArtifactStore, Database, Lockstep
from lockstep.artifacts.blobs import (
    BlobMissing,
    BlobStore,
    DatabaseBlobStore,
    FolderBlobStore,
    FsspecBlobStore,
)
from lockstep.db import parse_url, redact
from tests.conftest import ROOT
from tests.servers import free_port

TOPIC = "Should Calder Bay cap and register short-term rentals?"
BUCKET = "lockstep-blobs"


def _shas(value: Any) -> set[str]:
    """Every `sha256` field inside a JSON document (the sources' blobs)."""
    if isinstance(value, dict):
        return {v for k, v in value.items() if k == "sha256"} | {
            s for v in value.values() for s in _shas(v)
        }
    if isinstance(value, list):
        return {s for v in value for s in _shas(v)}
    return set()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 server on a free loopback port with one bucket; returns a boto3 client.
    lockstep reaches it the way a user would: `AWS_ENDPOINT_URL` and credentials in the
    environment, the bucket in `LOCKSTEP_BLOB_URL`."""
    import boto3
    import s3fs
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # filesystems are cached per process, not per env
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_s3_blob_store_through_blob_url(
    db_url: str, s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOCKSTEP_BLOB_URL", f"s3://{BUCKET}/lockstep")
    db = Database(db_url)
    store = ArtifactStore(db)
    assert isinstance(store.blobs, FsspecBlobStore)
    ref = store.put("t", "draft", "in the bucket", step="drafting")
    sha = ref["sha256"]
    key = f"lockstep/{sha[:2]}/{sha}"
    assert store.meta(ref["id"]).location == f"s3://{BUCKET}/{key}"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"in the bucket"
    assert store.text(ref) == "in the bucket"
    assert [s for s, _ in store.blobs.shas()] == [sha]
    # nothing went to the database's table or a folder beside the file
    assert db.query("SELECT COUNT(*) AS n FROM lockstep_blobs")[0]["n"] == 0
    assert not (tmp_path / "blobs").exists()

    s3.put_object(Bucket=BUCKET, Key=key, Body=b"tampered")
    with pytest.raises(ArtifactError, match="checksum mismatch for draft@1"):
        store.text(ref)
    store.blobs.delete(sha)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    with pytest.raises(BlobMissing, match=f"blob {sha[:12]} of draft@1"):
        store.text(ref)
    db.close()


@pytest.mark.slow
def test_s3_brief_run_and_show_from_another_directory(
    sqlite_url: str, s3: Any, tmp_path: Path, corpus: Path
) -> None:
    """`lockstep run` and `lockstep show` as processes, content in the bucket only."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")},
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "LOCKSTEP_BLOB_URL": f"s3://{BUCKET}/briefs",
    }
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    def lockstep(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "lockstep", *args, "--db", sqlite_url],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    lockstep(first, "run", "brief", "--topic", TOPIC, "--sources", str(corpus), "--thread-id", "s3")
    shown = lockstep(second, "show", "s3").stdout
    assert shown.startswith("# ") and "[^" in shown
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    with Lockstep(sqlite_url) as client:  # no LOCKSTEP_BLOB_URL here: read the rows only
        rows = client.artifacts_of("s3")
    assert {f"briefs/{a.sha256[:2]}/{a.sha256}" for a in rows} <= keys
    assert all((a.location or "").startswith(f"s3://{BUCKET}/briefs/") for a in rows)
    assert not (tmp_path / "blobs").exists()
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []

    report = json.loads(lockstep(second, "doctor", "--json").stdout)
    assert report["blob_store"] == {
        "value": f"s3://{BUCKET}/briefs",
        "ok": True,
        "detail": "reachable",
        "kind": "fsspec",
    }
    env["LOCKSTEP_BLOB_URL"] = "s3://no-such-bucket/briefs"
    missing = subprocess.run(
        [sys.executable, "-m", "lockstep", "doctor", "--json", "--db", sqlite_url],
        cwd=second,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["blob_store"]["ok"] is False


def test_database_blob_store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table store on both dialects (PostgreSQL's default; SQLite's with
    LOCKSTEP_BLOB_URL=database): deduplicated, verified, deletable."""
    monkeypatch.setenv("LOCKSTEP_BLOB_URL", "database")
    db = Database(db_url)
    store = ArtifactStore(db)
    assert isinstance(store.blobs, DatabaseBlobStore) and isinstance(store.blobs, BlobStore)
    one = store.put("t", "draft", b"\x00binary\xff", step="drafting")
    again = store.put("u", "draft", b"\x00binary\xff", step="drafting")
    assert one["sha256"] == again["sha256"]
    rows = db.query("SELECT sha256, size FROM lockstep_blobs")
    assert rows == [{"sha256": one["sha256"], "size": 8}]
    assert store.read(one) == b"\x00binary\xff"
    assert store.meta(one["id"]).location == f"database:{one['sha256']}"
    assert [s for s, _ in store.blobs.shas()] == [one["sha256"]]
    db.execute("UPDATE lockstep_blobs SET content = ?", (b"tampered",))
    with pytest.raises(ArtifactError, match="checksum mismatch for draft@1"):
        store.read(one)
    store.blobs.delete(one["sha256"])
    with pytest.raises(BlobMissing):
        store.read(one)
    with pytest.raises(ArtifactError, match="invalid sha256"):
        store.blobs.get("../../etc/passwd")
    db.close()


def test_postgres_default_is_the_database(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LOCKSTEP_BLOB_URL", "LOCKSTEP_BLOB_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert parse_url(postgres_url).blob_url == "database"
    db = Database(postgres_url)
    assert isinstance(ArtifactStore(db).blobs, DatabaseBlobStore)
    db.close()


def test_sqlite_blobs_sit_beside_the_file_not_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LOCKSTEP_BLOB_URL", "LOCKSTEP_BLOB_DIR"):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    db = Database(f"sqlite:///{tmp_path / 'data' / 'x.db'}")
    ref = ArtifactStore(db).put("t", "draft", "beside", step="drafting")
    assert (tmp_path / "data" / "blobs" / ref["sha256"][:2] / ref["sha256"]).read_text() == "beside"
    assert list(cwd.iterdir()) == []
    db.close()

    # a relative URL is resolved once, against the directory the process stood in
    relative = Database("sqlite:///rel/y.db")
    assert relative.location.path == cwd / "rel" / "y.db"
    assert relative.location.blob_url == str(cwd / "rel" / "blobs")
    store = ArtifactStore(relative)
    monkeypatch.chdir(tmp_path)
    ref = store.put("t", "draft", "still beside", step="drafting")
    assert store.text(ref) == "still beside"
    assert (cwd / "rel" / "blobs" / ref["sha256"][:2] / ref["sha256"]).exists()
    assert not (tmp_path / "rel").exists()
    relative.close()


def test_blob_dir_override_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKSTEP_BLOB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKSTEP_BLOB_DIR", "shared/blobs")
    assert parse_url("postgresql://h/db").blob_url == str(tmp_path / "shared" / "blobs")
    monkeypatch.setenv("LOCKSTEP_BLOB_URL", "s3://b/p")
    assert parse_url("sqlite:///x.db").blob_url == "s3://b/p"  # the URL wins over the folder


def test_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCKSTEP_BLOB_URL", "LOCKSTEP_BLOB_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert redact("postgresql://ana:s3cret@db:5432/x") == "postgresql://ana:***@db:5432/x"
    assert redact("postgresql://db/x?password=s3cret&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )
    assert redact("postgresql://ana@db/x") == "postgresql://ana@db/x"
    assert parse_url("postgresql://ana:pw@db/x").storage() == {
        "database": "postgresql://ana:***@db/x",
        "blob_store": "database",
    }
    assert parse_url("sqlite:////srv/x.db").storage() == {
        "database": "sqlite:////srv/x.db",
        "blob_store": "/srv/blobs",
    }


@pytest.mark.postgres
@pytest.mark.slow
def test_upgrade_keeps_blobs_in_the_old_folder_readable(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Path
) -> None:
    """A database at schema version 6 whose blobs lie in `./.lockstep/blobs` of the directory
    the run stood in (how lockstep wrote them with PostgreSQL). The upgrade runs on another
    "machine" without the folder; the first read where the folder is copies each blob into the
    table, and from then on every machine reads it from the database alone."""
    import lockstep.db as dbmod

    for name in ("LOCKSTEP_BLOB_URL", "LOCKSTEP_BLOB_DIR"):
        monkeypatch.delenv(name, raising=False)
    full = list(dbmod.MIGRATIONS)
    old, elsewhere = tmp_path / "old", tmp_path / "elsewhere"
    old.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(old)
    monkeypatch.setattr(dbmod, "MIGRATIONS", full[:6])
    with Lockstep(postgres_url) as client:
        client.artifacts.blobs = FolderBlobStore(".lockstep/blobs")  # as version 6 did
        assert client.run("brief", topic=TOPIC, sources=[str(corpus)], thread_id="v6").final
        rows = client.artifacts_of("v6")
        sources = client.artifacts.json(client.artifacts.latest("v6", "sources"))  # type: ignore[arg-type]
    assert rows and all((a.location or "").startswith(".lockstep/blobs/") for a in rows)
    wanted = {a.sha256 for a in rows} | _shas(sources)
    assert len(wanted) > len(rows)  # the gathered sources are blobs of their own

    monkeypatch.setattr(dbmod, "MIGRATIONS", full)
    monkeypatch.chdir(elsewhere)
    with Lockstep(postgres_url) as client:  # the upgrade, where the folder is not
        latest = client.db.query("SELECT max(version) AS v FROM lockstep_migrations")[0]["v"]
        assert latest == len(dbmod.MIGRATIONS)
        blobs = client.artifacts.blobs
        assert isinstance(blobs, DatabaseBlobStore) and blobs.missing() == len(
            {a.sha256 for a in rows}
        )
        with pytest.raises(BlobMissing):
            client.artifacts.read(rows[0])

    monkeypatch.chdir(old)
    with Lockstep(postgres_url) as client:  # where the folder is: read, verified, adopted
        for a in rows:
            client.artifacts.read(a)
        for sha in wanted:
            client.artifacts.blobs.get(sha)
        assert client.artifacts.blobs.missing() == 0  # type: ignore[attr-defined]

    shutil.rmtree(old / ".lockstep")
    monkeypatch.chdir(elsewhere)
    with Lockstep(postgres_url) as client:  # the database alone now
        stored = {s for s, _ in client.artifacts.blobs.shas()}
        assert wanted <= stored
        final = client.artifacts.latest_complete("v6", "final")
        assert final is not None and client.artifacts.text(final).startswith("# ")
    assert list(elsewhere.iterdir()) == []


def test_graphs_import_and_build_create_no_files(tmp_path: Path) -> None:
    """Importing every `lockstep.graphs` module and building every workflow's graph (as
    `langgraph.json` and the client do) writes nothing in the working directory."""
    script = """
import importlib, pkgutil
import lockstep.graphs as graphs
from lockstep.graphs import WORKFLOWS
for info in pkgutil.iter_modules(graphs.__path__):
    importlib.import_module(f"lockstep.graphs.{info.name}")
for name in WORKFLOWS:
    module = importlib.import_module(WORKFLOWS[name])
    assert module.graph is not None
    module.build_graph()
importlib.import_module("lockstep.graphs.brief").build_graph(asynchronous=True)
print("built", sorted(WORKFLOWS))
"""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")},
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "built ['brief', 'brief_digest', 'training']" in proc.stdout
    assert list(cwd.iterdir()) == []
    assert list(home.iterdir()) == []


def test_read_only_open_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    from lockstep.errors import StorageError

    missing = tmp_path / "typo" / "lockstep.db"
    with pytest.raises(StorageError, match=f"no SQLite database at {missing}"):
        Database(f"sqlite:///{missing}", create=False)
    assert list(tmp_path.iterdir()) == []
    Database(f"sqlite:///{missing}").close()  # the default still creates it
    db = Database(f"sqlite:///{missing}", create=False)
    assert db.query("SELECT COUNT(*) AS n FROM lockstep_threads") == [{"n": 0}]
    db.close()
