"""Artifact references inside a workflow's input are read with the submitter's rights.

A reference (`{"id", "version", "sha256"}`, or any mapping with an `id` and a `version` or
`sha256`) names another thread's artifact; a run would read its content on the caller's
behalf. So every reference in an input (REST, LangServe, jobs, webhooks, chains) must name an
artifact of a thread the caller owns, exactly as `GET /artifacts/{id}` demands, and one that
is not the caller's to see is refused exactly as an unknown one is (`ArtifactError`, 404,
"unknown artifact ID@VERSION"), so a refusal tells nothing about other users' artifacts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lockstep.db import Database
from lockstep.errors import ArtifactError
from lockstep.ids import VERSION_MAX, check_id

__all__ = ["artifact_refs", "check_refs", "redact_refs", "unknown_artifact"]

Owns = Callable[[str | None], bool]
"""Whether the caller owns a thread created by the given user (admins own every thread)."""


def _is_ref(value: Mapping[str, Any]) -> bool:
    return "id" in value and ("version" in value or "sha256" in value)


def artifact_refs(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """Every artifact reference inside `value` (mappings and lists, walked to depth 64)."""
    if depth > 64:
        return
    if isinstance(value, Mapping):
        if _is_ref(value):
            yield value
            return
        for item in value.values():
            yield from artifact_refs(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from artifact_refs(item, depth + 1)


def unknown_artifact(artifact_id: str, version: object = None) -> ArtifactError:
    """The one refusal for an artifact that does not exist or is not the caller's."""
    at = f"@{version}" if isinstance(version, int) and not isinstance(version, bool) else ""
    return ArtifactError(f"unknown artifact {artifact_id}{at}")


def check_refs(db: Database, value: Any, owns: Owns) -> None:
    """Refuse (`ArtifactError`, as unknown) any reference in `value` to an artifact of a
    thread the caller does not own; a malformed ID is `RequestError` (422)."""
    for ref in artifact_refs(value):
        artifact_id = check_id(ref["id"], "artifact")
        version = ref.get("version")
        if isinstance(version, int) and not isinstance(version, bool):
            if not 1 <= version <= VERSION_MAX:
                raise unknown_artifact(artifact_id, version)
            rows = db.query(
                "SELECT thread_id FROM lockstep_artifacts WHERE id = ? AND version = ?",
                (artifact_id, version),
            )
        else:
            rows = db.query("SELECT thread_id FROM lockstep_artifacts WHERE id = ?", (artifact_id,))
        owners = [db.thread(row["thread_id"]) for row in rows[:1]]
        if not owners or owners[0] is None or not owns(owners[0]["created_by"]):
            raise unknown_artifact(artifact_id, version)


def redact_refs(value: Any, depth: int = 0) -> Any:
    """`value` with every artifact reference replaced by `{"redacted": "artifact"}` (what an
    operator sees of another user's job input)."""
    if depth > 64:
        return None
    if isinstance(value, Mapping):
        if _is_ref(value):
            return {"redacted": "artifact"}
        return {k: redact_refs(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_refs(v, depth + 1) for v in value]
    return value
