"""Wall time of one offline policy brief on the sample corpus, end to end.

Each run is a fresh SQLite database and blob store (research, outline, sections, verification,
every checkpoint and artifact written); the offline model makes no network calls.

    python benchmarks/brief_wall.py [--runs 5] [--json] [--research-mode agent]
"""

from __future__ import annotations

import sys

# Run as a script, this folder comes first on sys.path, where `queue.py` (the queue benchmark)
# would hide the standard library's `queue`: drop that entry before anything else is imported.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from lockstep import Lockstep

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "Should Calder Bay cap and register short-term rentals?"


def one_brief(research_mode: str = "locked") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Lockstep(f"sqlite:///{Path(tmp) / 'lockstep.db'}") as client:
            status = client.run(
                "brief",
                topic=TOPIC,
                sources=[str(ROOT / "examples" / "corpus")],
                research_mode=research_mode,
            )
        elapsed = time.perf_counter() - start
    assert status.status == "completed", status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--research-mode", default="locked", choices=["locked", "agent"])
    args = parser.parse_args()
    one_brief(args.research_mode)  # warm imports and caches
    times = [one_brief(args.research_mode) for _ in range(args.runs)]
    result = {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs": args.runs,
        "research_mode": args.research_mode,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"one offline brief ({args.research_mode} research): median {result['median_s']} s"
            f" over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
