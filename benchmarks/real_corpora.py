"""Two corpora of real documents nobody on the project wrote, assembled from files every
Debian machine ships: the licence texts (`/usr/share/common-licenses`) and package
documentation (`/usr/share/doc`: README, changelog and copyright texts, `.gz` ones
decompressed). Used by the real-corpus brief test and the support-threshold measurement.

    python benchmarks/real_corpora.py OUT_DIR [--docs 300]   # writes OUT_DIR/licences, OUT_DIR/docs

Files are copied as `.txt` (the sources folder reads .md, .txt and .html), named after their
origin so a brief's attributions say where each came from. What a machine ships varies; the
topics in `TOPICS` are the ones every Debian machine's licence texts and base packages'
documentation bear on.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

__all__ = ["DOCS", "LICENCES", "OFF_TOPIC", "TOPICS", "build_docs", "build_licences"]

LICENCES = Path("/usr/share/common-licenses")
DOCS = Path("/usr/share/doc")
MIN_CHARS = 400
"""Shorter files (a one-line README, a bare copyright stub) are left out."""
MAX_CHARS = 200_000
"""Longer files (a whole upstream changelog) are cut at the last line break before this."""

TOPICS = {
    "licences": [
        "Should a project that distributes modified software choose a copyleft licence?",
        "What do the licences require when source code is redistributed?",
        "How do the licences treat patents and warranty disclaimers?",
    ],
    "docs": [
        "How should packages document their copyright and licence terms?",
        "What do package changelogs record about bug fixes and security updates?",
    ],
}
OFF_TOPIC = "Should the harbour authority subsidise ferry fares for island commuters?"


def _text(path: Path) -> str | None:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
        return None
    if len(text) < MIN_CHARS or "\x00" in text:
        return None
    if len(text) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS) + 1]
    return text


def build_licences(folder: Path) -> int:
    """Every licence text, one `.txt` each; the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(LICENCES.iterdir()) if LICENCES.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue  # GPL -> GPL-3 and the like: the same text again
        text = _text(path)
        if text is not None:
            (folder / f"{path.name}.txt").write_text(text, encoding="utf-8")
            n += 1
    return n


def _wanted(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name == "copyright" or name.startswith(("readme", "changelog", "news"))


def build_docs(folder: Path, count: int = 300) -> int:
    """Up to `count` README/changelog/NEWS/copyright texts of installed packages, at most
    three per package, packages taken across the alphabet; the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    packages = sorted(p for p in DOCS.iterdir() if p.is_dir()) if DOCS.is_dir() else []
    # spread over the alphabet (so not only a-d, and not 17 erlang-* packages in a row)
    step = max(1, len(packages) // max(1, count // 2))
    packages = packages[::step] + [p for n, p in enumerate(packages) if n % step]
    for package in packages:
        per_package = 0
        for path in sorted(package.rglob("*")):
            if n >= count or per_package >= 3:
                break
            if path.is_symlink() or not path.is_file() or not _wanted(path):
                continue
            text = _text(path)
            if text is None:
                continue
            rel = path.relative_to(DOCS).as_posix().removesuffix(".gz").replace("/", "--")
            (folder / f"{rel}.txt").write_text(text, encoding="utf-8")
            n += 1
            per_package += 1
    return n


if __name__ == "__main__":
    out = Path(sys.argv[1])
    docs = int(sys.argv[sys.argv.index("--docs") + 1]) if "--docs" in sys.argv else 300
    print("licences:", build_licences(out / "licences"))
    print("docs:", build_docs(out / "docs", docs))
