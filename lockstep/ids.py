"""One syntax for every ID a caller names: threads, jobs and artifacts (and `trigger`, for
callers that check a trigger name; the names themselves come from the operator's config).

An ID is 1-128 characters of ASCII letters, digits, `_` and `-`, with single dots between
them, starting with a letter or digit (so never `..`, nor a leading or trailing dot). So an
ID is one safe path segment (no `/`, no `\\`, no control characters, no markup brackets) and
always readable back over REST. IDs are refused where they enter (the API with 422, the CLI
with a one-line error), and any path built from one is still confined with `confined()`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from lockstep.errors import RequestError

__all__ = [
    "ID_MAX",
    "ID_PATTERN",
    "SPEC_PATTERN",
    "VERSION_MAX",
    "IdKind",
    "check_artifact_spec",
    "check_id",
    "confined",
    "problem",
]

ID_MAX = 128
"""Longest ID accepted."""
_BODY = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"
ID_PATTERN = rf"^{_BODY}$"
"""The syntax of every ID, as a regular expression (also published in the OpenAPI document):
letters, digits, `_` and `-`, with single dots between them; at most `ID_MAX` characters."""
VERSION_MAX = 2**31 - 1
"""Largest artifact version number accepted in `ID@VERSION`."""
SPEC_PATTERN = rf"^{_BODY}(?:@[1-9][0-9]{{0,9}})?$"
"""`ID` or `ID@VERSION`, as a regular expression (the version is also at most VERSION_MAX)."""

IdKind = Literal["thread", "job", "artifact", "trigger", "key", "checkpoint"]
_ID = re.compile(ID_PATTERN)


def problem(value: object, kind: IdKind = "thread") -> str | None:
    """Why `value` is not a valid ID of `kind` (None when it is), without echoing it whole."""
    if not isinstance(value, str):
        return f"a {kind} ID must be text, not {type(value).__name__}"
    if not value:
        return f"a {kind} ID must not be empty"
    if len(value) > ID_MAX:
        return f"a {kind} ID has at most {ID_MAX} characters (got {len(value)})"
    if not _ID.fullmatch(value):
        return (
            f"invalid {kind} ID {value!r}: use letters, digits, '_' and '-', with single "
            "dots between them (starting with a letter or digit)"
        )
    return None


def check_id(value: object, kind: IdKind = "thread") -> str:
    """`value` if it is a valid ID of `kind`; else `RequestError` (422 over HTTP)."""
    why = problem(value, kind)
    if why is not None:
        raise RequestError(why)
    assert isinstance(value, str)
    return value


def check_artifact_spec(spec: str) -> str:
    """`ID` or `ID@VERSION` with a valid ID and 1 <= VERSION <= 2^31-1; else `RequestError`."""
    artifact_id, sep, version = spec.partition("@")
    check_id(artifact_id, "artifact")
    if sep and not (
        version.isascii() and version.isdigit() and len(version) <= 10 and version[0] != "0"
    ):
        raise RequestError(f"invalid artifact version in {spec[:150]!r}: use ID@N with N >= 1")
    if sep and int(version) > VERSION_MAX:
        raise RequestError(f"artifact version {version} is out of range (at most {VERSION_MAX})")
    return spec


def confined(base: Path, *segments: str) -> Path:
    """`base/segment/...` after checking each segment is a valid ID and the result, resolved,
    stays under `base` (a path is never built from caller data without this)."""
    for segment in segments:
        check_id(segment)
    root = base.resolve()
    path = root.joinpath(*segments).resolve()
    if not path.is_relative_to(root):
        raise RequestError(f"{'/'.join(segments)!r} leads outside {base}")
    return path
