"""Wall time of one offline policy brief on the sample corpus, end to end.

Each run is a fresh SQLite database and blob store (research, outline, sections, verification,
every checkpoint and artifact written); the offline model makes no network calls.

    python benchmarks/brief_wall.py [--runs 5] [--json] [--research-mode agent]
    python benchmarks/brief_wall.py --docs 150      # a larger corpus: wall time and peak RSS

With `--docs N` the corpus is the sample corpus plus real documents this machine ships
(`/usr/share/common-licenses`, text files under `/usr/share/doc`) up to N files, and each
brief runs in a fresh process (locked and agent research interleaved) so its peak RSS is its
own. The first brief on a corpus builds its BM25 index; a second on the same corpus reuses it
from the index cache beside the database (`warm`).
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


def build_corpus(folder: Path, count: int) -> int:
    """The sample corpus plus machine-shipped text files, `count` files in all."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for doc in sorted((ROOT / "examples" / "corpus").iterdir()):
        shutil.copy(doc, folder / doc.name)
        n += 1
    shipped = sorted(Path("/usr/share/common-licenses").glob("*")) + sorted(
        p
        for p in Path("/usr/share/doc").rglob("*")
        if p.is_file() and p.suffix in ("", ".txt", ".md") and not p.is_symlink()
    )
    for source in shipped:
        if n >= count:
            break
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) < 200:
            continue
        (folder / f"shipped-{n:05d}.txt").write_text(text, encoding="utf-8")
        n += 1
    return n


def scaled(count: int, modes: list[str]) -> None:
    """One brief per research mode on a corpus of `count` documents, cold then warm, each in
    a fresh process: wall time and peak RSS."""
    import subprocess

    child = (
        "import sys, time; from lockstep import Lockstep;"
        "t = time.perf_counter();"
        "c = Lockstep(sys.argv[1]);"
        "s = c.run('brief', topic=sys.argv[2], sources=[sys.argv[3]], research_mode=sys.argv[4]);"
        "import resource;"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "print(s.status, round(time.perf_counter() - t, 2), peak)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        made = build_corpus(corpus, count)
        print(f"corpus: {made} documents")
        for mode in modes:
            db = f"sqlite:///{Path(tmp) / mode / 'lockstep.db'}"
            for run in ("cold", "warm"):
                done = subprocess.run(
                    [sys.executable, "-c", child, db, TOPIC, str(corpus), mode],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                status, seconds, peak = done.stdout.split()
                print(f"{mode:7} {run}: {status} in {seconds} s, peak RSS {int(peak) // 1024} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, help="corpus size (see above)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--research-mode", default="locked", choices=["locked", "agent"])
    args = parser.parse_args()
    if args.docs:
        scaled(args.docs, ["locked", "agent"])
        return
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
