"""Storage cost of a 20-revision brief with a 100 KB draft: refs in state vs. text in state.

    .venv/bin/python benchmarks/storage.py [--revisions 20] [--kb 100]

"refs" keeps only an `ArtifactRef` in graph state and the draft in lockstep's content-addressed
blob store (lockstep's way); "inline" keeps the draft text in state (LangGraph's usual style).
Both run the same revision loop on a SqliteSaver; sizes are bytes as stored (checkpoint and
metadata blobs, pending writes, blob files), so the result is deterministic.
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import json
import random
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lockstep.artifacts.store import ArtifactStore  # noqa: E402
from lockstep.checkpointers import close_checkpointer, open_checkpointer  # noqa: E402
from lockstep.db import Database  # noqa: E402
from lockstep.state.machine import ArtifactRef  # noqa: E402

WORDS = [
    "rent",
    "cap",
    "register",
    "host",
    "platform",
    "tax",
    "levy",
    "housing",
    "unit",
    "permit",
    "zone",
    "fee",
    "data",
    "audit",
]


def drafts(revisions: int, kb: int, seed: int = 7) -> list[str]:
    """`revisions` distinct drafts of about `kb` KB each: each revision rewrites some lines."""
    rng = random.Random(seed)
    lines: list[str] = []
    while sum(len(line) + 1 for line in lines) < kb * 1024:
        lines.append(" ".join(rng.choices(WORDS, k=12)))
    out = []
    for _ in range(revisions):
        for i in rng.sample(range(len(lines)), k=max(1, len(lines) // 20)):
            lines[i] = " ".join(rng.choices(WORDS, k=12))
        out.append("\n".join(lines) + "\n")
    return out


class RefState(TypedDict, total=False):
    revision: int
    draft: ArtifactRef


class InlineState(TypedDict, total=False):
    revision: int
    draft: str


def _graph(variant: str, texts: list[str], store: ArtifactStore, saver: Any) -> Any:
    schema = RefState if variant == "refs" else InlineState

    def revise(state: dict[str, Any]) -> dict[str, Any]:
        n = state.get("revision", 0)
        text = texts[n]
        if variant == "refs":
            return {"revision": n + 1, "draft": store.put("t", "draft", text, step="drafting")}
        return {"revision": n + 1, "draft": text}

    def route(state: dict[str, Any]) -> str:
        return END if state["revision"] >= len(texts) else "revise"

    builder = StateGraph(schema)
    builder.add_node("revise", revise)
    builder.add_edge(START, "revise")
    builder.add_conditional_edges("revise", route)
    return builder.compile(checkpointer=saver)


def measure(variant: str, revisions: int = 20, kb: int = 100) -> dict[str, Any]:
    """Run one variant in a fresh folder and return its storage sizes in bytes."""
    texts = drafts(revisions, kb)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        url = f"sqlite:///{db_path}"
        db = Database(url)
        store = ArtifactStore(db)
        saver = open_checkpointer(url)
        try:
            graph = _graph(variant, texts, store, saver)
            graph.invoke(
                {"revision": 0}, {"configurable": {"thread_id": "t"}, "recursion_limit": 1000}
            )
        finally:
            close_checkpointer(saver)
            db.close()
        conn = sqlite3.connect(db_path)
        per_checkpoint = []
        for cid, ckpt, meta in conn.execute(
            "SELECT checkpoint_id, checkpoint, metadata FROM checkpoints WHERE thread_id = 't'"
        ):
            writes = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes WHERE checkpoint_id = ?", (cid,)
            ).fetchone()[0]
            per_checkpoint.append(len(ckpt) + len(meta) + writes)
        meta_rows = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(id) + LENGTH(name) + LENGTH(inputs) + LENGTH(sha256) "
            "+ LENGTH(location) + 120), 0) FROM lockstep_artifacts"
        ).fetchone()[0]
        conn.close()
        blob_files = [p for p in (Path(tmp) / "blobs").rglob("*") if p.is_file()]
        blob_bytes = sum(p.stat().st_size for p in blob_files)
    distinct = sum(len(t.encode()) for t in set(texts))
    total = sum(per_checkpoint) + blob_bytes + meta_rows
    return {
        "variant": variant,
        "revisions": revisions,
        "draft_kb": kb,
        "checkpoints": len(per_checkpoint),
        "max_checkpoint_bytes": max(per_checkpoint),
        "checkpoint_bytes": sum(per_checkpoint),
        "blob_bytes": blob_bytes,
        "artifact_metadata_bytes": meta_rows,
        "distinct_artifact_bytes": distinct,
        "total_bytes": total,
        "ratio": round(total / distinct, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=20)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(v, args.revisions, args.kb) for v in ("refs", "inline")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| variant | checkpoints | max checkpoint | all checkpoints | blobs | total | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['checkpoints']} | {r['max_checkpoint_bytes']:,} B "
            f"| {r['checkpoint_bytes']:,} B | {r['blob_bytes']:,} B | {r['total_bytes']:,} B "
            f"| {r['ratio']}× |"
        )
    print(f"\nDistinct artifact bytes: {rows[0]['distinct_artifact_bytes']:,}")


if __name__ == "__main__":
    main()
