"""Hostile JSON, refused before it is parsed for use: too deep to parse without running out
of stack, or holding numbers no reply can carry (NaN, Infinity, overflowing doubles) or no
database column can hold (integers beyond 64 bits). Shared by the server and the webhooks.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["INT_MAX", "MAX_DEPTH", "json_problem"]

MAX_DEPTH = 64
"""Deepest nesting of JSON arrays and objects accepted."""
INT_MAX = 2**63 - 1
"""Largest magnitude of a JSON integer accepted (a signed 64-bit integer)."""

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class _Refused(ValueError):
    pass


def _depth(body: bytes) -> int:
    """The deepest bracket nesting of a JSON text, counted without parsing it."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number: send finite numbers only")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("a number in the body is out of range (it overflows a double)")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(int(text)) > INT_MAX:
        raise _Refused("an integer in the body is out of range (more than 64 bits)")
    return int(text)


def json_problem(body: bytes) -> str | None:
    """Why a JSON body is refused (None when it is fine, or is not JSON at all: routes answer
    malformed bodies themselves)."""
    if body.lstrip()[:1] in (b"{", b"[") and _depth(body) > MAX_DEPTH:
        return f"the body nests deeper than {MAX_DEPTH} levels"
    try:
        json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _Refused as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None
    return None
