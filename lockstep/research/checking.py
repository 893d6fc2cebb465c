"""`verify` wired to where the sources are: a thread's stored sources, or folders on disk.

`verify_thread` checks a brief against the sources the thread's research read, exactly as read:
the texts come from the blob store by the sha256 the `sources` artifact recorded, and each is
checked against that checksum first, so an edited folder (or a tampered blob) cannot make a
brief pass or fail. `verify_folders` checks against folders as they are now. Both name
sources by the titles the brief uses (`brief_titles`), and run the one `citations.verify`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from lockstep.errors import SourcesError
from lockstep.research.citations import VerificationReport, verify
from lockstep.research.corpus import load_corpus, source_key
from lockstep.research.quotes import normalise_ws

__all__ = ["brief_titles", "verify_folders", "verify_thread"]


class _Blobs(Protocol):
    def get(self, sha256: str, *, label: str | None = None) -> bytes: ...


class _Artifacts(Protocol):
    blobs: Any

    def latest(self, thread_id: str, name: str) -> Any: ...

    def json(self, ref: Any) -> Any: ...


def brief_titles(sources: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Source key → the title a brief names it by: its own title, or, when more than one
    gathered source claims that title, the title marked as shared with the others' files, on
    every claimant (which one copied cannot be known, so none borrows the other's standing)."""
    owners: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for source in sources:
        key = str(source["key"])
        titles[key] = normalise_ws(str(source.get("title") or "")) or key
        owners.setdefault(titles[key].lower(), []).append(key)
    out: dict[str, str] = {}
    for key, title in titles.items():
        others = [k for k in owners[title.lower()] if k != key]
        out[key] = f"{title}, title shared with {', '.join(others)}" if others else title
    return out


def verify_thread(markdown: str, artifacts: _Artifacts, thread_id: str) -> VerificationReport:
    """Check `markdown` against the sources thread `thread_id` gathered, as stored."""
    latest = artifacts.latest(thread_id, "sources")
    if latest is None:
        raise SourcesError(f"thread {thread_id} has no research report (no sources artifact)")
    report = artifacts.json(latest)
    texts: dict[str, str] = {}
    for source in report["sources"]:
        data = artifacts.blobs.get(source["sha256"])
        if hashlib.sha256(data).hexdigest() != source["sha256"]:
            raise SourcesError(f"the stored text of {source['key']} does not match its checksum")
        texts[source["key"]] = data.decode("utf-8")
    return verify(markdown, texts, set(texts), brief_titles(report["sources"]))


def verify_folders(markdown: str, folders: Sequence[str | Path]) -> VerificationReport:
    """Check `markdown` against the documents of `folders` as they are now."""
    texts: dict[str, str] = {}
    listed: list[dict[str, str]] = []
    for index, folder in enumerate(folders):
        docs, _ = load_corpus(folder)
        for doc in docs:
            key = source_key(index, str(folder), doc.path)
            texts[key] = doc.text
            listed.append({"key": key, "title": doc.title})
    return verify(markdown, texts, None, brief_titles(listed))
