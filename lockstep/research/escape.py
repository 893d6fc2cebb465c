"""Source text as data: escaping for markdown output and for prompts, and the inverse.

Everything a document supplies (quotes, titles, file names) passes through here before it is
written into a brief or a prompt. In markdown, every character that can start markup (a
footnote marker `[^n]`, link or image syntax, raw HTML, emphasis, code) is backslash-escaped,
so CommonMark renders it as the literal character and nothing a source says becomes a link,
a tag or a citation. In prompts, each evidence item is one JSON object per line with `<` and
`>` written as JSON escapes, so no source text can close or open the prompt's tagged blocks
or start a new evidence line.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MARKDOWN_SPECIALS",
    "escape_markdown",
    "prompt_json",
    "prompt_safe",
    "unescape_markdown",
]

MARKDOWN_SPECIALS = frozenset('\\`*_[]<>&!~|#"')
"""Characters escaped in markdown output: each can open markup somewhere in CommonMark/GFM
(`!` an image, `&` an entity, `~` strikethrough, `|` a table cell, `#` a heading); and `"`,
which closes the quote of a footnote definition."""


def escape_markdown(text: str) -> str:
    """`text` on one line with every markup character backslash-escaped (renders literally)."""
    flat = " ".join(text.split())
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in flat)


def unescape_markdown(text: str) -> str:
    """The inverse of `escape_markdown`: a backslash before a markup character is dropped."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in MARKDOWN_SPECIALS:
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def prompt_safe(text: str) -> str:
    """`text` with `<` and `>` replaced by look-alike-free JSON escapes, for prompt blocks that
    are delimited by tags (`<draft>`, `<report>`): source text can then never close them."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def prompt_json(value: Any) -> str:
    """`value` as one line of JSON with `<`/`>` escaped (see `prompt_safe`); `json.loads`
    reads it back unchanged."""
    return prompt_safe(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
