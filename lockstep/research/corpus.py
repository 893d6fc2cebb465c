"""A sources folder read as documents: markdown, plain text and HTML, strictly UTF-8.

Each document keeps its exact text (newlines normalised, BOM removed) so quote spans and
citation checks refer to the same characters the research step read. Files that cannot be
read are reported as `Skipped` with a reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lockstep.errors import SourcesError
from lockstep.research.html import html_to_text

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "Skipped",
    "html_to_text",
    "load_corpus",
    "read_document",
    "source_key",
    "title_of",
]

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")


@dataclass(frozen=True)
class Document:
    """One source document: `path` is relative to its folder, with forward slashes."""

    path: str
    title: str
    text: str
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """A file in a sources folder that was not read, and why."""

    path: str
    reason: str


_UNDERLINE = re.compile(r"\s*([=\-~*#_^+])\1{2,}\s*")
_LETTER = re.compile(r"[^\W\d_]")


_TITLE_WORDS = 16
"""Longest first line of a plain-text file taken as its title, in words."""


def _title_like(line: str) -> bool:
    """A plain-text first line that reads as a title: short, not a sentence (no closing full
    stop, question mark or comma), no URL. Else the file is titled by its name: a README that
    opens with "This package contains the GNU find programs." or a copyright file that opens
    with "Format: https://..." has no title."""
    return (
        len(line.split()) <= _TITLE_WORDS
        and "://" not in line
        and not line.endswith((".", "!", "?", ",", ";"))
    )


def _title(path: Path, text: str) -> str:
    """A markdown file's first `#` heading (or setext heading); a text file's first line with
    letters in it (its `=====` underline is not a title). Else the file name."""
    markdown = path.suffix.lower() in (".md", ".markdown")
    lines = text.splitlines()
    for row, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or _UNDERLINE.fullmatch(stripped) or not _LETTER.search(stripped):
            continue
        if not markdown:
            line = " ".join(stripped.strip("#*=_-~ ").split()) or stripped
            return line if _title_like(line) else path.stem.replace("-", " ").replace("_", " ")
        if stripped.startswith("# "):
            return stripped[2:].strip().strip("#").strip()
        nxt = lines[row + 1].strip() if row + 1 < len(lines) else ""
        if nxt and set(nxt) == {"="}:
            return stripped
    return path.stem.replace("-", " ").replace("_", " ")


def title_of(path: str, text: str) -> str:
    """The title `load_corpus` gives a document's `text` (an HTML page's text as read: its
    first heading, as its `<title>` is not part of the text)."""
    suffix = Path(path).suffix.lower()
    return _title(Path(path).with_suffix(".txt" if suffix in (".html", ".htm") else suffix), text)


def _read(root: Path, file: Path) -> Document:
    """Read one file; raises `SourcesError` naming the file and the problem."""
    rel = file.relative_to(root).as_posix()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise SourcesError(f"cannot read {rel}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourcesError(f"{rel} is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if file.suffix.lower() in (".html", ".htm"):
        title, text = html_to_text(text)
        title = title or _title(file.with_suffix(".txt"), text)
    else:
        title = _title(file, text)
    if not text.strip():
        raise SourcesError(f"{rel} is empty")
    return Document(rel, title, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def allowed_roots() -> list[Path]:
    """Folders sources must lie under (`LOCKSTEP_SOURCES_ROOTS`, os.pathsep-separated; set it
    on servers and workers that take requests from others, so a caller cannot have any
    folder of the machine read). Empty: any folder."""
    value = os.environ.get("LOCKSTEP_SOURCES_ROOTS", "")
    return [Path(p).resolve() for p in value.split(os.pathsep) if p.strip()]


def _folder(root: str | Path) -> Path:
    if "\x00" in str(root):
        raise SourcesError("a sources folder name cannot hold a NUL byte")
    path = Path(root)
    roots = allowed_roots()
    if roots and not any(path.resolve().is_relative_to(r) for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise SourcesError(f"sources folder '{root}' is outside the allowed roots ({allowed})")
    if not path.exists():
        raise SourcesError(f"sources folder '{root}' does not exist")
    if not path.is_dir():
        raise SourcesError(f"sources folder '{root}' is not a folder")
    return path


def load_corpus(root: str | Path) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under `root` (recursive, sorted, hidden entries ignored), and
    the files that were skipped with their reasons. Raises `SourcesError` when the folder is
    missing or holds no readable document."""
    path = _folder(root)
    base = path.resolve()
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if not file.resolve().is_relative_to(base):
            skipped.append(Skipped(rel.as_posix(), "a link to a file outside the folder"))
            continue
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append(Skipped(rel.as_posix(), f"unsupported file type '{file.suffix}'"))
            continue
        try:
            docs.append(_read(path, file))
        except SourcesError as exc:
            skipped.append(Skipped(rel.as_posix(), str(exc)))
    if not docs:
        raise SourcesError(f"sources folder '{root}' holds no readable .md, .txt or .html document")
    return docs, skipped


def source_key(index: int, root: str, relpath: str) -> str:
    """How a source is named in citations: its path inside the first folder, or
    `<folder name>/<path>` for folders added later (so two folders cannot collide)."""
    return relpath if index == 0 else f"{Path(root).name}/{relpath}"


def read_document(root: str | Path, relpath: str) -> Document:
    """One document of a sources folder by its relative path (no escaping the folder)."""
    base = _folder(root).resolve()
    file = (base / relpath).resolve()
    if not file.is_relative_to(base):
        raise SourcesError(f"'{relpath}' is outside sources folder '{root}'")
    if not file.is_file():
        raise SourcesError(f"{relpath} no longer exists in '{root}'")
    return _read(base, file)
