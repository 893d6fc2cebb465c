"""The threads, gates, artifacts and graphs API: REST over JSON, on the shared client.

Routes are thin: each checks the caller (bearer key → `Principal`), hides other users'
threads (404, not 403), and calls the same `Lockstep` methods the CLI and notebooks use.
Sync routes run in FastAPI's thread pool; runs and gate answers use the async client.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from lockstep.aclient import AsyncLockstep
from lockstep.artifacts.store import Artifact
from lockstep.errors import ThreadNotFound
from lockstep.graphs import WORKFLOWS, workflow_machine
from lockstep.ids import ID_MAX, ID_PATTERN, SPEC_PATTERN, check_artifact_spec
from lockstep.ownership import check_refs, unknown_artifact
from lockstep.server.auth import LOCAL, Principal, authenticate, presented_key
from lockstep.triggers import engine as engines

__all__ = [
    "IdField",
    "ThreadId",
    "authenticated",
    "check_input_refs",
    "public_artifact",
    "require",
    "router",
]

_ID_HELP = "1-128 letters, digits, '_' and '-', with single dots between (`lockstep.ids`)."
ThreadId = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description=_ID_HELP)]
"""A thread ID in a path: refused with 422 unless it has the one ID syntax (`lockstep.ids`)."""
ArtifactSpec = Annotated[
    str,
    Path(pattern=SPEC_PATTERN, max_length=ID_MAX + 11, description="`ID` or `ID@VERSION`."),
]


def IdField(description: str = _ID_HELP) -> Any:
    """An optional ID in a request body, with the one ID syntax."""
    return Field(default=None, pattern=ID_PATTERN, max_length=ID_MAX, description=description)


def require(principal: Principal, role: str) -> None:
    """Refuse (403) a caller without `role` (admins have every role)."""
    if not principal.can(role):
        raise HTTPException(403, f"user {principal.user!r} lacks the {role!r} role")


def client_of(request: Request) -> AsyncLockstep:
    client: AsyncLockstep = request.app.state.lockstep
    return client


async def authenticated(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `x-api-key: <key>` (the LangGraph
    SDK's header); with `--no-auth`, the local admin."""
    if not request.app.state.auth:
        request.state.principal = LOCAL
        return LOCAL
    key = presented_key(request.headers)
    principal = None
    if key:
        principal = await asyncio.to_thread(authenticate, client_of(request).db, key)
    if principal is None:
        raise HTTPException(401, "a valid API key is required", {"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


router = APIRouter(dependencies=[Depends(authenticated)])
Caller = Depends(authenticated)


def owned(request: Request, principal: Principal, thread_id: str) -> dict[str, Any]:
    """The thread's row if the caller may see it; another user's thread reads as unknown."""
    row = client_of(request).db.thread(thread_id)
    if row is None or not principal.owns(row["created_by"]):
        raise ThreadNotFound(thread_id)
    return row


def check_input_refs(request: Request, principal: Principal, inputs: Any) -> None:
    """Every artifact reference in a run's inputs must be the caller's to read (as for
    `GET /artifacts/{spec}`); another user's reads as unknown (404)."""
    check_refs(client_of(request).db, inputs, principal.owns)


def _owned_artifact(request: Request, principal: Principal, spec: str) -> Artifact:
    """The artifact if the caller may read it; one that is not theirs is refused exactly as
    an unknown one (same status, same body, no owner's thread named)."""
    check_artifact_spec(spec)
    artifact_id, _, version = spec.partition("@")
    meta = client_of(request).sync.artifact_meta(spec)
    row = client_of(request).db.thread(meta.thread_id)
    if row is None or not principal.owns(row["created_by"]):
        raise unknown_artifact(artifact_id, int(version) if version else None)
    return meta


def public_artifact(meta: Artifact) -> dict[str, Any]:
    """An artifact's metadata as the API shows it: without where the server stores it."""
    doc = meta.to_dict()
    doc.pop("location", None)
    return doc


class StartRequest(BaseModel):
    """Start a thread of `workflow` with its inputs; it runs until it ends or waits at a gate."""

    workflow: str = Field(examples=["brief"])
    inputs: dict[str, Any] = Field(
        examples=[{"topic": "Should Calder Bay cap short-term rentals?", "sources": ["corpus"]}]
    )
    thread_id: str | None = IdField("Default: a new random ID. " + _ID_HELP)


class Decision(BaseModel):
    """An answer for the thread's pending gate; the deciding user comes from the API key."""

    decision: str
    comment: str | None = None
    sources: str | None = None


class Rollback(BaseModel):
    to: str | None = Field(default=None, description="A checkpoint id from the history.")
    state: str | None = Field(default=None, description="Or: the latest entry into this state.")
    reason: str | None = None


class Reason(BaseModel):
    reason: str


@router.get("/threads", tags=["threads"])
def list_threads(request: Request, principal: Principal = Caller) -> list[dict[str, Any]]:
    """The caller's threads (every thread, for admins)."""
    return [
        {k: row[k] for k in ("thread_id", "workflow", "created_at", "created_by")}
        for row in client_of(request).db.threads()
        if principal.owns(row["created_by"])
    ]


@router.post("/threads", tags=["threads"])
async def start_thread(
    body: StartRequest, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Start a thread and run it to its next stop (completed, rejected or a gate)."""
    require(principal, "submitter")
    if body.workflow not in WORKFLOWS:
        raise HTTPException(404, f"unknown workflow {body.workflow!r}")
    await asyncio.to_thread(check_input_refs, request, principal, body.inputs)
    client = client_of(request)
    status = await client.run(
        body.workflow, thread_id=body.thread_id, created_by=principal.user, **body.inputs
    )
    return status.to_dict()


@router.get("/threads/{thread_id}", tags=["threads"])
def get_thread(
    thread_id: ThreadId, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Current state, pending gate, counters and last transitions."""
    owned(request, principal, thread_id)
    return client_of(request).sync.status(thread_id).to_dict()


@router.get("/threads/{thread_id}/history", tags=["threads"])
def get_history(
    thread_id: ThreadId,
    request: Request,
    principal: Principal = Caller,
    limit: int = Query(default=100, ge=1, le=1000, description="Checkpoints per page."),
    before: str | None = Query(
        default=None,
        max_length=ID_MAX,
        pattern=ID_PATTERN,
        description="The last checkpoint id of the previous page: the page holds older ones.",
    ),
) -> list[dict[str, Any]]:
    """The thread's checkpoints, newest first, a page at a time."""
    owned(request, principal, thread_id)
    return client_of(request).sync.history(thread_id, limit=limit, before=before)


@router.post("/threads/{thread_id}/decision", tags=["gates"])
async def decide(
    thread_id: ThreadId,
    body: Decision,
    request: Request,
    response: Response,
    principal: Principal = Caller,
) -> dict[str, Any]:
    """Answer the pending gate (409, thread unchanged, when the gate does not allow it).

    A thread a job runs is continued by a worker: 202, the status still at the gate, and the
    continuation as `job`; otherwise the server runs it on to its next stop (200)."""
    require(principal, "approver")
    owned(request, principal, thread_id)
    fields: dict[str, Any] = {"sources": body.sources} if body.sources else {}
    client = client_of(request)
    job = await asyncio.to_thread(
        lambda: engines.continue_thread(
            client.sync.queue,
            client.sync,
            thread_id,
            body.decision,
            comment=body.comment,
            by=principal.user,
            **fields,
        )
    )
    if job is not None:
        response.status_code = 202
        return {**(await client.status(thread_id)).to_dict(), "job": job.to_dict()}
    status = await client.resume(
        thread_id, body.decision, comment=body.comment, by=principal.user, **fields
    )
    return status.to_dict()


@router.post("/threads/{thread_id}/rollback", tags=["recovery"])
def rollback(
    thread_id: ThreadId, body: Rollback, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Continue from an earlier checkpoint as a fork; later history is kept, superseded."""
    require(principal, "operator")
    owned(request, principal, thread_id)
    status = client_of(request).sync.rollback(
        thread_id, to=body.to, state=body.state, reason=body.reason, by=principal.user
    )
    return status.to_dict()


@router.post("/threads/{thread_id}/escalate", tags=["recovery"])
def escalate(
    thread_id: ThreadId, body: Reason, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Halt the thread and route it to its workflow's human review gate."""
    require(principal, "operator")
    owned(request, principal, thread_id)
    return (
        client_of(request).sync.escalate(thread_id, reason=body.reason, by=principal.user).to_dict()
    )


@router.post("/threads/{thread_id}/abandon", tags=["recovery"])
def abandon(
    thread_id: ThreadId, body: Reason, request: Request, principal: Principal = Caller
) -> dict[str, Any]:
    """Mark the thread abandoned, saving its work in progress as incomplete artifacts."""
    require(principal, "operator")
    owned(request, principal, thread_id)
    return (
        client_of(request).sync.abandon(thread_id, reason=body.reason, by=principal.user).to_dict()
    )


@router.get("/threads/{thread_id}/artifacts", tags=["artifacts"])
def thread_artifacts(
    thread_id: ThreadId, request: Request, principal: Principal = Caller
) -> list[dict[str, Any]]:
    """Every artifact version of the thread, oldest first, with lineage inputs."""
    owned(request, principal, thread_id)
    return [public_artifact(a) for a in client_of(request).sync.artifacts_of(thread_id)]


@router.get("/artifacts/{spec}", tags=["artifacts"])
def get_artifact(
    spec: ArtifactSpec,
    request: Request,
    principal: Principal = Caller,
    diff: str | None = Query(
        default=None,
        pattern=SPEC_PATTERN,
        max_length=ID_MAX + 11,
        description="Another ID@VERSION to diff against.",
    ),
) -> dict[str, Any]:
    """One artifact version (`ID` or `ID@VERSION`) with its content, versions and lineage.

    Another user's artifact is answered exactly as an unknown one (404)."""
    client = client_of(request).sync
    meta = _owned_artifact(request, principal, spec)
    content = client.artifacts.read(meta)
    doc: dict[str, Any] = {**public_artifact(meta), "content": content.decode("utf-8", "replace")}
    doc["versions"] = [
        a.version for a in client.artifacts.of_thread(meta.thread_id) if a.id == meta.id
    ]
    if diff:
        _owned_artifact(request, principal, diff)
        doc["diff"] = client.artifact_diff(diff, spec)
    return doc


@router.get("/gates", tags=["gates"])
def list_gates(
    request: Request, principal: Principal = Caller, overdue: bool = False
) -> list[dict[str, Any]]:
    """Threads waiting at a gate (only those past their deadline with `overdue=true`)."""
    gates = client_of(request).sync.gates(overdue=overdue)
    return [g for g in gates if principal.owns(g["owner"])]


@router.get("/graphs/{name}/diagram", tags=["graphs"])
def diagram(
    name: str, format: str = Query(default="mermaid", pattern="^(mermaid|png)$")
) -> Response:
    """The workflow's state machine as Mermaid text or a PNG (drawn offline)."""
    import tempfile
    from pathlib import Path

    from lockstep.machine import to_mermaid, write_png

    if name not in WORKFLOWS:
        raise HTTPException(404, f"unknown workflow {name!r}")
    machine = workflow_machine(name)
    if format == "mermaid":
        return Response(to_mermaid(machine), media_type="text/plain")
    with tempfile.TemporaryDirectory() as tmp:
        png = write_png(machine, Path(tmp) / f"{name}.png").read_bytes()
    return Response(png, media_type="image/png")
