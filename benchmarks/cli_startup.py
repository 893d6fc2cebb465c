"""`lockstep --help` against `langgraph --help`, interleaved in one run: the CLI start-up a
person waits for on every command. Prints the medians and their ratio.

    python benchmarks/cli_startup.py [--runs 15]

`langgraph` comes from `.venv-langgraph` (the Makefile's `langgraph dev` environment);
`lockstep` from the interpreter running this script.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = ROOT / ".venv-langgraph" / "bin" / "langgraph"


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    if not LANGGRAPH.exists():
        sys.exit(f"{LANGGRAPH} is missing: run `make test` (or make .venv-langgraph/.installed)")
    commands = {
        "lockstep --help": [sys.executable, "-m", "lockstep", "--help"],
        "langgraph --help": [str(LANGGRAPH), "--help"],
    }
    for command in commands.values():  # warm the page cache for both
        wall(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(wall(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:18} median {value * 1000:7.1f} ms over {runs} runs")
    ratio = medians["lockstep --help"] / medians["langgraph --help"]
    print(f"ratio lockstep/langgraph: {ratio:.2f}x")


if __name__ == "__main__":
    main()
