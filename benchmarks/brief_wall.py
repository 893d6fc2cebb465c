"""Wall time of one offline policy brief on the sample corpus, end to end.

Each run is a fresh SQLite database and blob store (research, outline, sections, verification,
every checkpoint and artifact written); the offline model makes no network calls.

    python benchmarks/brief_wall.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from lockstep import Lockstep

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "Should Calder Bay cap and register short-term rentals?"


def one_brief() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Lockstep(f"sqlite:///{Path(tmp) / 'lockstep.db'}") as client:
            status = client.run("brief", topic=TOPIC, sources=[str(ROOT / "examples" / "corpus")])
        elapsed = time.perf_counter() - start
    assert status.status == "completed", status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    one_brief()  # warm imports and caches
    times = [one_brief() for _ in range(args.runs)]
    result = {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"one offline brief: median {result['median_s']} s over {args.runs} runs")


if __name__ == "__main__":
    main()
