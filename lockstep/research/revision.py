"""The offline reviser: a draft repaired against its verification report, in code.

A misquoted footnote gets the evidence's closest real sentence (`extract_quote_fix`); any
other failed footnote is dropped with every sentence that cites it; sentences and paragraphs
reported as uncited are dropped; definitions no sentence cites any more go too. Nothing is
added, so a revision can only remove what did not hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from lockstep.research.citations import extract_quote_fix, parse_citations
from lockstep.research.claims import MARKER, body_sentences
from lockstep.research.escape import escape_markdown
from lockstep.research.quotes import normalise_ws

__all__ = ["revise"]

_DEFINITION = re.compile(r"^\[\^([^\]\s]+)\]:")
_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")


def _plan(
    draft: str, report: Mapping[str, Any], evidence: Sequence[Mapping[str, str]]
) -> tuple[dict[int, str], set[str], set[str]]:
    """(definition lines to rewrite, labels to drop, sentence texts to drop)."""
    citations, _ = parse_citations(draft)
    by_label = {c.label: c for c in citations}
    by_source: dict[str, list[str]] = {}
    for item in evidence:
        by_source.setdefault(item["source"], []).append(item["quote"])
    rewrite: dict[int, str] = {}
    drop: set[str] = set()
    texts: set[str] = set()
    for failure in report.get("failures", []):
        label, kind = failure.get("label"), failure.get("kind")
        if kind in ("uncited_sentence", "uncited_paragraph") and failure.get("text"):
            texts.add(normalise_ws(str(failure["text"])))
            continue
        if not label:
            continue
        c = by_label.get(label)
        if kind == "quote_not_found" and c is not None:
            fix = extract_quote_fix(c.quote, "\n\n".join(by_source.get(c.source, [])))
            if fix:
                quote = escape_markdown(fix)
                rewrite[c.line - 1] = f'[^{label}]: {escape_markdown(c.source)} "{quote}"'
                continue
        drop.add(label)
    return rewrite, drop, texts


def _keep(text: str, drop: set[str], texts: set[str], names: set[str]) -> str:
    kept = [
        s
        for s in body_sentences(text, names)
        if not (set(MARKER.findall(s)) & drop) and normalise_ws(s) not in texts
    ]
    return " ".join(kept)


def revise(draft: str, report: Mapping[str, Any], evidence: Sequence[Mapping[str, str]]) -> str:
    """`draft` with the failures of `report` repaired or removed."""
    rewrite, drop, texts = _plan(draft, report, evidence)
    # split sentences as the verifier does: a source's title or file name is never a boundary
    names = {
        n
        for item in evidence
        for name in (item["title"], item["source"])
        for n in (name, escape_markdown(name))
    }
    lines = [rewrite.get(i, line) for i, line in enumerate(draft.splitlines())]
    out: list[str] = []
    for block in "\n".join(lines).split("\n\n"):
        stripped = block.strip()
        if (
            not stripped
            or stripped.startswith(("#", ">"))
            or re.fullmatch(r"-{3,}", stripped)
            or all(_DEFINITION.match(line.strip()) for line in stripped.splitlines())
        ):
            out.append(block)
            continue
        if normalise_ws(stripped) in texts:
            continue
        items = []
        for line in stripped.splitlines() if _ITEM.match(stripped) else [stripped]:
            marker = _ITEM.match(line)
            head = marker.group(0) if marker else ""
            kept = _keep(line[len(head) :], drop, texts, names)
            if kept and MARKER.search(kept):
                items.append(head + kept)
        if items:
            out.append("\n".join(items))
    text = "\n\n".join(out).strip()
    cited = set(MARKER.findall(text))
    final = [
        line
        for line in text.splitlines()
        if not ((m := _DEFINITION.match(line.strip())) and m.group(1) not in cited)
    ]
    return "\n".join(final) + "\n"
