"""How the offline model reads lockstep's own prompts (`prompts.py`): the material between
tags on lines of their own, `Name: value` fields, and the evidence lines. It reads nothing
else, so text inside a document can never be taken for an instruction."""

from __future__ import annotations

import json
import re

__all__ = ["evidence", "field", "tag"]

_EVIDENCE_LINE = re.compile(r"^\[(E\d+)\] (\{.*\})$")


def tag(text: str, name: str) -> str:
    """The material between `<name>` and `</name>` on lines of their own (the system prompt
    mentions the tags inline, so a tag must be followed by a newline to open a block)."""
    match = re.search(rf"<{name}>\n(.*?)\n?</{name}>", text, re.S)
    return match.group(1) if match else ""


def field(text: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def evidence(text: str) -> list[dict[str, str]]:
    """The evidence items of a prompt: one `[E1] {json}` line each (see `format_evidence`)."""
    items = []
    for line in tag(text, "evidence").splitlines():
        match = _EVIDENCE_LINE.match(line.strip())
        if not match:
            continue
        try:
            data = json.loads(match.group(2))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in _KEYS):
            items.append({"id": match.group(1), **{k: data[k] for k in _KEYS}})
    return items


_KEYS = ("source", "title", "quote")
