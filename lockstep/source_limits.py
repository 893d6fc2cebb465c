"""Which sources folders a request may name, and how much they may hold, checked by `stat`
alone: a submit never reads the documents (the run does, later, on a worker).

- roots: a folder must lie under one of `LOCKSTEP_SOURCES_ROOTS` (os.pathsep-separated).
  `lockstep serve` always sets it: `--sources-root DIR`s, or by default the examples folder
  and a `sources/` folder beside the database (`default_roots`). Unset (the library and the
  CLI on one's own machine): any folder.
- limits: at most `max_file()` bytes per document (default 10 MB, `LOCKSTEP_SOURCES_MAX_FILE`),
  `max_total()` bytes per folder (100 MB, `LOCKSTEP_SOURCES_MAX_TOTAL`) and `MAX_FILES`
  documents. `too_large(path)` is what a corpus reader calls before reading a file.

Refusals name the folder as given, never the server's own paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from lockstep.errors import SourcesError

__all__ = [
    "MAX_FILES",
    "SUFFIXES",
    "check_sources",
    "default_roots",
    "max_file",
    "max_total",
    "roots",
    "too_large",
]

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
"""Document types a corpus reads (as `lockstep.research.corpus.SUPPORTED_SUFFIXES`)."""
MAX_FILES = 10_000
"""Most documents one sources folder may hold."""
_MB = 1_000_000


def _env_bytes(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def max_file() -> int:
    """Largest document, in bytes (`LOCKSTEP_SOURCES_MAX_FILE`, default 10 MB)."""
    return _env_bytes("LOCKSTEP_SOURCES_MAX_FILE", 10 * _MB)


def max_total() -> int:
    """Largest sources folder, in bytes (`LOCKSTEP_SOURCES_MAX_TOTAL`, default 100 MB)."""
    return _env_bytes("LOCKSTEP_SOURCES_MAX_TOTAL", 100 * _MB)


def _mb(size: int) -> str:
    return f"{size / _MB:.1f} MB"


def too_large(path: Path) -> str | None:
    """Why the file at `path` is too large to read (None when it is not)."""
    size = path.stat().st_size
    if size > max_file():
        return f"{path.name} is {_mb(size)}, over the {_mb(max_file())} per-file limit"
    return None


def default_roots(database_url: str | None) -> list[Path]:
    """The server's roots without `--sources-root`: the examples folder shipped beside the
    package, and `sources/` beside the SQLite file (`./sources` for other databases)."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    url = database_url or os.environ.get("LOCKSTEP_DATABASE_URL") or ""
    if url.startswith("sqlite:///"):
        beside = Path(url.removeprefix("sqlite:///")).parent / "sources"
    elif not url:
        beside = Path(".lockstep") / "sources"
    else:
        beside = Path("sources")
    return [examples, beside.resolve()]


def roots() -> list[Path]:
    """The configured roots (`LOCKSTEP_SOURCES_ROOTS`); empty means any folder."""
    value = os.environ.get("LOCKSTEP_SOURCES_ROOTS", "")
    return [Path(p).resolve() for p in value.split(os.pathsep) if p.strip()]


def check_sources(folder: str | os.PathLike[str]) -> None:
    """Refuse (`SourcesError`) a folder outside the roots, missing, holding no document, or
    over the limits, by looking at names and sizes only."""
    if "\x00" in os.fspath(folder):
        raise SourcesError("a sources folder name cannot hold a NUL byte")
    path = Path(folder)
    allowed = roots()
    if allowed and not any(path.resolve().is_relative_to(r) for r in allowed):
        raise SourcesError(
            f"sources folder '{folder}' is outside the allowed roots "
            "(the folders this server reads: its --sources-root)"
        )
    if not path.exists():
        raise SourcesError(f"sources folder '{folder}' does not exist")
    if not path.is_dir():
        raise SourcesError(f"sources folder '{folder}' is not a folder")
    base, total, count = path.resolve(), 0, 0
    for file in path.rglob("*"):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or file.suffix.lower() not in SUFFIXES:
            continue
        if not file.is_file() or not file.resolve().is_relative_to(base):
            continue
        size = file.stat().st_size
        if size == 0:
            continue
        if size > max_file():
            raise SourcesError(
                f"{rel.as_posix()} in '{folder}' is {_mb(size)}, over the "
                f"{_mb(max_file())} per-file limit"
            )
        total, count = total + size, count + 1
        if total > max_total():
            raise SourcesError(
                f"sources folder '{folder}' holds over {_mb(max_total())} of documents "
                "(the per-folder limit)"
            )
        if count > MAX_FILES:
            raise SourcesError(f"sources folder '{folder}' holds over {MAX_FILES} documents")
    if not count:
        raise SourcesError(
            f"sources folder '{folder}' holds no readable .md, .txt or .html document"
        )
