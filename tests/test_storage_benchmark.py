"""The storage benchmark's size properties (bytes, never timings)."""

from __future__ import annotations

from benchmarks.storage import measure


def test_refs_keep_checkpoints_small_and_storage_near_artifact_bytes() -> None:
    refs = measure("refs", revisions=20, kb=100)
    assert refs["distinct_artifact_bytes"] >= 20 * 100 * 1024  # 20 distinct 100 KB drafts
    assert refs["checkpoints"] >= 20
    assert refs["max_checkpoint_bytes"] < 10 * 1024
    assert refs["total_bytes"] <= 1.2 * refs["distinct_artifact_bytes"]


def test_text_in_state_costs_a_draft_per_checkpoint() -> None:
    inline = measure("inline", revisions=20, kb=100)
    assert inline["max_checkpoint_bytes"] > 100 * 1024
    assert inline["total_bytes"] > 1.2 * inline["distinct_artifact_bytes"]
