"""The artifact store on a real brief run: the chain, diff, lineage, export, tamper detection,
concurrent writers and the fsspec backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lockstep import ArtifactError, ArtifactStore, Database, Lockstep
from lockstep.artifacts.store import FsspecBlobStore, open_blob_store, parse_spec
from tests.models import FabricatingModel
from tests.test_cli import TOPIC, cli


@pytest.fixture
def revised(db_url: str, corpus: Path) -> tuple[str, str]:
    """A completed brief whose first draft failed verification once, then passed."""
    with Lockstep(db_url, model=FabricatingModel(revisions_fabricated=1)) as client:
        st = client.run("brief", topic=TOPIC, sources=[str(corpus)], thread_id="chain")
        assert st.status == "completed"
    return db_url, "chain"


def _by_label(client: Lockstep, thread: str) -> dict[str, object]:
    return {f"{a.name}@{a.version}": a for a in client.artifacts_of(thread)}


@pytest.mark.slow
def test_chain_tree_diff_and_lineage(revised: tuple[str, str]) -> None:
    db, thread = revised
    with Lockstep(db) as client:
        items = _by_label(client, thread)
        assert {"request@1", "sources@1", "outline@1", "draft@1", "verification@1"} <= set(items)
        assert {"draft@2", "verification@2", "final@1"} <= set(items)
        draft1, draft2, final = items["draft@1"], items["draft@2"], items["final@1"]
        assert draft2.parent_version == 1 and draft2.id == draft1.id  # type: ignore[attr-defined]
        assert final.type == "final" and final.location and final.size > 0  # type: ignore[attr-defined]

        diff = client.artifact_diff(f"{draft1.id}@1", f"{draft1.id}@2")  # type: ignore[attr-defined]
        assert diff.startswith("--- draft@1") and "\n+++ draft@2" in diff
        assert any(line.startswith("-[^") for line in diff.splitlines())
        report = items["verification@1"]
        key_diff = client.artifact_diff(f"{report.id}@1", f"{report.id}@2")  # type: ignore[attr-defined]
        assert "~ ok: false -> true" in key_diff.splitlines()

        lineage = client.lineage(f"{final.id}@1")  # type: ignore[attr-defined]
        ancestors = {f"{a['name']}@{a['version']}" for a in lineage["ancestors"]}
        assert {"draft@2", "draft@1", "verification@1", "outline@1", "request@1"} <= ancestors
        assert lineage["descendants"] == []
        below = client.lineage(f"{draft1.id}@1")  # type: ignore[attr-defined]
        assert {"final@1", "draft@2"} <= {
            f"{a['name']}@{a['version']}" for a in below["descendants"]
        }

        writes = [r for r in client.audit(thread) if r["kind"] == "artifact"]
        assert len(writes) == len(items) and writes[0]["detail"]["name"] == "request"

    tree = cli("artifacts", thread, db=db).stdout
    order = ["request@1", "sources@1", "outline@1", "draft@1", "verification@1", "draft@2"]
    positions = [tree.index(label) for label in [*order, "final@1"]]
    assert positions == sorted(positions), tree
    # a chain: each of these sits one level below the one before it
    depth = {
        label: next(line for line in tree.splitlines() if f"{label} " in line).index(label)
        for label in ["sources@1", "outline@1", "draft@1", "verification@1", "draft@2"]
    }
    assert depth["sources@1"] < depth["outline@1"] < depth["draft@1"] < depth["verification@1"]
    assert depth["verification@1"] < depth["draft@2"]
    as_json = json.loads(cli("artifacts", thread, "--json", db=db).stdout)
    assert {f"{a['name']}@{a['version']}" for a in as_json} == set(items)
    shown = cli("artifacts", "show", f"{final.id}@1", db=db).stdout  # type: ignore[attr-defined]
    assert shown.startswith("# ")
    out = cli("artifacts", "diff", f"{draft1.id}@1", f"{draft1.id}@2", db=db).stdout  # type: ignore[attr-defined]
    assert "+++ draft@2" in out
    lineage_out = cli("artifacts", "lineage", f"{final.id}", db=db).stdout  # type: ignore[attr-defined]
    assert "ancestors:" in lineage_out and "draft@1" in lineage_out


@pytest.mark.slow
def test_export_round_trip_and_refusals(revised: tuple[str, str], tmp_path: Path) -> None:
    db, thread = revised
    target = tmp_path / "export"
    with Lockstep(db) as client:
        manifest = client.export(thread, target)
        assert manifest["thread_id"] == thread
        assert len(manifest["artifacts"]) == len(client.artifacts_of(thread))
        assert client.verify_export(target) == []
        on_disk = json.loads((target / "manifest.json").read_text())
        final = next(e for e in on_disk["artifacts"] if e["name"] == "final")
        assert (target / final["file"]).read_text().startswith("# ")
        (target / final["file"]).write_text("tampered")
        assert client.verify_export(target) == [f"{final['file']}: checksum mismatch"]
        with pytest.raises(ArtifactError, match="exists and is not empty"):
            client.export(thread, target)
        with pytest.raises(ArtifactError, match=r"contains '\.\.'"):
            client.export(thread, tmp_path / "a" / ".." / "b")
        assert not (tmp_path / "b").exists()
    bad = cli("artifacts", "export", thread, "../escape", db=db, check=1)
    assert "error: refusing export directory '../escape'" in bad.stderr
    ok = cli("artifacts", "export", thread, str(tmp_path / "again"), db=db)
    assert "exported" in ok.stdout and Lockstep.verify_export(tmp_path / "again") == []
    assert "ok: every file" in cli("artifacts", "verify-export", str(tmp_path / "again")).stdout
    failed = cli("artifacts", "verify-export", str(target), check=1).stdout
    assert f"FAIL {final['file']}: checksum mismatch" in failed


def test_unknown_versions_and_bad_ids(db_url: str) -> None:
    db = Database(db_url)
    store = ArtifactStore(db)
    ref = store.put("t", "draft", "one", step="drafting")
    assert store.get(ref["id"]).version == 1 and store.get(f"{ref['id']}@1").sha256 == ref["sha256"]
    with pytest.raises(ArtifactError, match=rf"unknown artifact {ref['id']}@9"):
        store.get(f"{ref['id']}@9")
    with pytest.raises(ArtifactError, match="unknown artifact nope"):
        store.get("nope")
    for spec in ("../etc/passwd", "a/b", "..", "x..y"):
        with pytest.raises(ArtifactError, match="invalid artifact id"):
            parse_spec(spec)
    with pytest.raises(ArtifactError, match="invalid artifact version"):
        parse_spec("draft-1@two")
    db.close()


def test_tamper_detection_names_the_artifact(db_url: str, tmp_path: Path) -> None:
    with Lockstep(db_url) as client:
        ref = client.artifacts.put("t", "draft", "the real text", step="drafting")
        location = client.artifacts.meta(ref["id"], 1).location or ""
        if db_url.startswith("sqlite"):  # a file in blobs/ beside the database file
            blob = Path(location)
            assert blob.parent.parent == Path(db_url.removeprefix("sqlite:///")).parent / "blobs"
            assert blob.read_text() == "the real text"
            blob.write_text("tampered")
        else:  # a row of the database's own blob table
            assert location == f"database:{ref['sha256']}"
            client.db.execute(
                "UPDATE lockstep_blobs SET content = ? WHERE sha256 = ?",
                (b"tampered", ref["sha256"]),
            )
        with pytest.raises(ArtifactError, match=r"checksum mismatch for draft@1 \(draft-"):
            client.artifact_content(ref["id"])
    url = db_url
    proc = cli("artifacts", "show", ref["id"], db=url, check=1)
    assert "error: checksum mismatch for draft@1" in proc.stderr


def test_concurrent_writers_get_distinct_versions(db_url: str) -> None:
    Database(db_url).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        db = Database(db_url)
        try:
            store = ArtifactStore(db)
            for i in range(5):
                store.put("t", "draft", f"writer {n} text {i}", step=f"w{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = Database(db_url)
    rows = ArtifactStore(db).of_thread("t")
    assert sorted(a.version for a in rows) == list(range(1, 21))
    assert len({a.id for a in rows}) == 1
    db.close()


def test_put_after_supersede_is_a_new_version(db_url: str) -> None:
    db = Database(db_url)
    store = ArtifactStore(db)
    v1 = store.put("t", "final", "same", step="verifying")
    assert store.supersede_after("t", "", "now")[0].version == 1
    v2 = store.put("t", "final", "same", step="verifying")
    assert v2["version"] == 2 and store.meta(v1["id"], 1).status == "superseded"
    assert store.text(v1) == "same"  # superseded versions stay readable
    db.close()


def test_fsspec_blob_store(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    blobs = open_blob_store("memory://lockstep-test/blobs")
    assert isinstance(blobs, FsspecBlobStore)
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = ArtifactStore(db, blobs)
    ref = store.put("t", "draft", "in memory", step="drafting")
    assert store.text(ref) == "in memory"
    assert (
        store.meta(ref["id"]).location
        == f"memory://lockstep-test/blobs/{ref['sha256'][:2]}/{ref['sha256']}"
    )
    assert [sha for sha, _ in blobs.shas()] == [ref["sha256"]]
    blobs.fs.pipe_file(blobs._path(ref["sha256"]), b"tampered")
    with pytest.raises(ArtifactError, match="checksum mismatch for draft@1"):
        store.text(ref)
    blobs.delete(ref["sha256"])
    assert list(blobs.shas()) == []
    db.close()


def test_migration_2_upgrades_a_version_1_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lockstep.db as dbmod

    full = list(dbmod.MIGRATIONS)
    monkeypatch.setattr(dbmod, "MIGRATIONS", full[:1])
    old = Database(db_url)
    old.execute(
        "INSERT INTO lockstep_artifacts (id, version, thread_id, name, step, created_at, "
        "created_by, inputs, format, size, sha256, status) "
        "VALUES ('section-2-abc', 1, 't', 'section-2', 's', 'x', 'y', '[]', 'text', 1, ?, "
        "'complete')",
        ("0" * 64,),
    )
    old.close()
    monkeypatch.setattr(dbmod, "MIGRATIONS", full)
    db = Database(db_url)
    versions = sorted(r["version"] for r in db.query("SELECT version FROM lockstep_migrations"))
    assert versions == list(range(1, len(full) + 1))
    store = ArtifactStore(db)
    meta = store.get("section-2-abc")
    assert meta.type is None and meta.to_dict()["type"] == "section" and meta.score is None
    ref = store.put("t", "section-2", "two", step="s", score=0.75)
    assert ref["version"] == 2 and store.meta(ref["id"], 2).score == 0.75
    db.close()
