"""Where a document's prose is: its paragraphs and list items, as character spans.

Markdown structure comes from markdown-it-py (CommonMark): only paragraphs are prose, so
headings, fenced and indented code, raw HTML blocks, tables-as-text and link reference
definitions (which is what a planted `[^1]: source "quote"` line parses as) are not; a list
item's wrapped lines stay one block. Inline code, inline HTML, links and images in a paragraph
are reported as `markup` so the sentences holding them can be left out. Plain text (and the
text of HTML pages) is split at blank lines; a bullet starts a new block, wrapped lines stay
with it, and `=====`/`-----` underlines mark the line above as a title, not prose.

Each block is a list of `(start, end)` spans of the document text, one per line, so a
sentence found in the joined block maps back to the exact characters it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt

__all__ = ["Block", "blocks"]

_BULLET = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|\([a-z0-9]{1,3}\))[ \t]+")
_UNDERLINE = re.compile(r"[ \t]*([=\-~*#_^+])\1{2,}[ \t]*")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class Block:
    """One paragraph or list item: its line spans in the document, and markup inside it."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    markup: list[str] = field(default_factory=list)
    """Raw text of inline code, inline HTML and images found in the block (not prose)."""


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """One parser for the process, warmed before it is shared: markdown-it compiles its rule
    chains on first use, which two threads must not do at once."""
    parser = MarkdownIt("commonmark")
    parser.parse("# warm\n\n- a\n\n`b` *c*")
    return parser


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for match in re.finditer("\n", text):
        starts.append(match.end())
    return starts


def _markdown_blocks(text: str) -> list[Block]:
    starts = _line_starts(text)
    lines = text.split("\n")
    tokens = _markdown().parse(text)
    out: list[Block] = []
    for n, token in enumerate(tokens):
        if token.type != "paragraph_open" or token.map is None or n + 1 >= len(tokens):
            continue
        inline = tokens[n + 1]
        first, last = token.map
        block = Block()
        for offset, content in enumerate(inline.content.split("\n")):
            row = first + offset
            if row >= last or row >= len(lines):
                break
            raw = lines[row].rstrip()
            piece = content.strip()
            if not piece or not raw.endswith(piece):
                continue
            end = starts[row] + len(raw)
            block.spans.append((end - len(piece), end))
        for child in inline.children or []:
            if child.type == "code_inline":
                block.markup.append(child.markup + child.content + child.markup)
            elif child.type == "html_inline":
                block.markup.append(child.content)
            elif child.type == "image":
                block.markup.append("![")
            elif child.type == "link_open":  # a link's target is markup, whatever its text
                block.markup.append("<" if child.markup == "autolink" else "](")
        if block.spans:
            out.append(block)
    return out


def _plain_blocks(text: str, hash_headings: bool) -> list[Block]:
    starts = _line_starts(text)
    lines = text.split("\n")
    out: list[Block] = []
    current: Block | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.spans:
            out.append(current)
        current = None

    for row, line in enumerate(lines):
        nxt = lines[row + 1] if row + 1 < len(lines) else ""
        stripped = line.strip()
        heading = hash_headings and stripped.startswith("#")
        if (
            not stripped
            or heading
            or _UNDERLINE.fullmatch(line)
            or (_UNDERLINE.fullmatch(nxt) and stripped)  # a title over its underline
            or not _LETTER.search(stripped)
        ):
            close()
            continue
        bullet = _BULLET.match(line)
        if bullet:
            close()
        if current is None:
            current = Block()
        lead = bullet.end() if bullet else len(line) - len(line.lstrip())
        current.spans.append((starts[row] + lead, starts[row] + len(line.rstrip())))
    close()
    return out


def blocks(text: str, kind: str) -> list[Block]:
    """The prose blocks of a document's `text`; `kind` is `markdown`, `html` (text made by
    `html_to_text`, whose headings are `#` lines) or `text`."""
    if kind == "markdown":
        return _markdown_blocks(text)
    return _plain_blocks(text, hash_headings=kind == "html")
