"""The `summarising` step of `brief_digest`: a finished brief → a one-paragraph notice.

The brief is read through the artifact store (checksum-verified against the ref it was given)
and summarised by the chat model with the DIGEST prompt; the notice is stored as an artifact
whose lineage points at the brief.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from lockstep.agents.faults import TransientError
from lockstep.agents.prompts import DIGEST
from lockstep.errors import ArtifactError
from lockstep.nodes.context import context_of, thread_of
from lockstep.state.digest import DigestState

__all__ = ["summarising"]

MAX_BRIEF_CHARS = 60_000
"""The part of a brief handed to the model (a brief is a few thousand words)."""


def summarising(state: DigestState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Summarise the brief into one paragraph; `invalid` when it cannot be read as text."""
    ctx = context_of(runtime)
    ref = state.get("brief")
    try:
        if not ref:
            raise ArtifactError("no brief artifact was given")
        meta = ctx.artifacts.meta(ref["id"], ref["version"])
        if meta.sha256 != ref["sha256"]:
            raise ArtifactError(f"{meta.label} does not match the given checksum")
        if meta.format not in ("markdown", "text"):
            raise ArtifactError(f"{meta.label} is {meta.format}, not a text brief")
        brief = ctx.artifacts.text(meta)
    except (ArtifactError, UnicodeDecodeError) as exc:
        return {"event": "invalid", "rejection_reason": str(exc)}
    title = re.search(r"^#\s+(?:policy brief:\s*)?(.+)$", brief, re.M | re.I)
    topic = state.get("topic") or (title.group(1).strip() if title else "a policy brief")
    reply = ctx.invoke(DIGEST.format_messages(topic=topic, brief=brief[:MAX_BRIEF_CHARS]))
    notice = " ".join(str(reply.content).split())
    if not notice:
        raise TransientError("the model returned an empty notice")
    stored = ctx.artifacts.put(
        thread_of(runtime),
        "notice",
        notice + "\n",
        step="summarising",
        inputs=[ref],
        format="markdown",
    )
    return {"event": "summarised", "notice": stored}
