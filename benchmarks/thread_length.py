"""Thread length: `status`, the first page of `history` and `resume` on a long thread against a
short one, and checkpoint bytes as the thread grows (issue 18, point 3). A history page holds
`--short` rows, so both threads fill it: the ratio is what the thread's length costs.

Threads of the `steps` example workflow (one checkpoint per unit of work) stop at its approval
gate after SHORT or LONG units. Reads are timed interleaved, long and short in turn, so noise
hits both alike; each `resume` (approve, one step to `done`) is timed once per thread.

    python benchmarks/thread_length.py [--long 1000] [--short 10] [--reads 40] [--pg URL]
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.queue import database  # noqa: E402 - a scratch database, as the queue's

FLOWS = ROOT / "examples" / "workflows"
RESUMES = 5


def stored_bytes(client: object, thread: str) -> int:
    """Bytes of the thread's checkpoints and channel values as the database stores them."""
    db = client.db  # type: ignore[attr-defined]
    if db.url.startswith("sqlite"):
        row = db.query(
            "SELECT sum(length(checkpoint)) + sum(length(metadata)) AS n FROM checkpoints "
            "WHERE thread_id = ?",
            (thread,),
        )[0]
    else:
        row = db.query(
            "SELECT (SELECT coalesce(sum(length(blob)), 0) FROM checkpoint_blobs "
            "WHERE thread_id = ?) + (SELECT coalesce(sum(length(checkpoint::text)), 0) "
            "FROM checkpoints WHERE thread_id = ?) AS n",
            (thread, thread),
        )[0]
    return int(row["n"] or 0)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=1000)
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--pg", help="a Postgres server URL (a scratch database is made)")
    args = parser.parse_args()
    sys.path.insert(0, str(FLOWS))
    from lockstep import Lockstep
    from lockstep.graphs import register_workflow

    register_workflow("steps", "steps")
    kind = "postgres" if args.pg else "sqlite"
    with database(kind, args.pg) as url, Lockstep(url) as client:
        lengths = {"short": args.short, "long": args.long}
        for kind, n in lengths.items():
            for i in range(RESUMES):
                client.run("steps", thread_id=f"{kind}-{i}", steps=n, gate=True)
        grown = {}
        for n in sorted({10, 100, args.long // 2, args.long}):
            client.run("steps", thread_id=f"size-{n}", steps=n)
            grown[n] = stored_bytes(client, f"size-{n}")

        if args.pg:  # what autovacuum does on a live server: planner statistics (a fresh
            client.db.execute("ANALYZE")  # database has none, and plans sequential scans)
        reads: dict[str, dict[str, list[float]]] = {
            op: {"short": [], "long": []} for op in ("status", "history page")
        }
        for _ in range(args.reads):
            for kind in ("short", "long"):
                thread = f"{kind}-0"
                reads["status"][kind].append(timed(lambda t=thread: client.status(t)))
                reads["history page"][kind].append(
                    timed(lambda t=thread: client.history(t, limit=args.short))
                )
        resumes: dict[str, list[float]] = {"short": [], "long": []}
        for i in range(RESUMES):
            for kind in ("short", "long"):
                thread = f"{kind}-{i}"
                resumes[kind].append(timed(lambda t=thread: client.resume(t, "approve", by="b")))

    engine = "postgres" if args.pg else "sqlite"
    print(f"thread length on {engine}: {args.long} vs {args.short} checkpoints (median ms)")
    print(f"{'operation':<14}{'short':>9}{'long':>9}{'long/short':>12}")
    rows = {**reads, "resume": resumes}
    for op, by_kind in rows.items():
        short = statistics.median(by_kind["short"]) * 1000
        long = statistics.median(by_kind["long"]) * 1000
        print(f"{op:<14}{short:>9.2f}{long:>9.2f}{long / short:>11.2f}x")
    print("stored checkpoint bytes by steps (bytes per step):")
    for n, size in grown.items():
        print(f"  {n:>6} steps: {size:>12,} B  ({size / n:,.0f} B/step)")


if __name__ == "__main__":
    main()
