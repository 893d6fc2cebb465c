"""The jobs API: queue workflow runs, list and read jobs, follow them over Server-Sent Events,
cancel them.

The server only queues: workers (`lockstep worker`) claim and run the jobs. Every route reads
the shared database, so what any worker writes reaches every server process; an event stream
polls the job's events table (`POLL_SECONDS`) rather than listening in-process.

Submitters submit and read their own jobs; operators and admins see every job. Another
user's job reads as unknown (404), as threads do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from lockstep.errors import JobNotFound, SubmitRefused
from lockstep.ids import ID_MAX, ID_PATTERN
from lockstep.ownership import redact_refs
from lockstep.queue.store import FINAL, Job, JobQueue, check_status, iso
from lockstep.server.api import IdField, authenticated, check_input_refs, client_of, require
from lockstep.server.auth import Principal
from lockstep.server.bodies import INT_MAX
from lockstep.triggers import engine as engines

__all__ = ["STATUS_AFTER", "SubmitJob", "router"]

POLL_SECONDS = 0.25
"""How often an open event stream looks for new events."""
PING_SECONDS = 15
"""A comment line this often keeps idle streams open through proxies."""

STATUS_AFTER = {
    "submitted": "queued",
    "started": "running",
    "checkpointed": "running",
    "waiting_human": "waiting_human",
    "retrying": "queued",
    "succeeded": "succeeded",
    "failed": "failed",
    "dead_lettered": "dead_lettered",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
    "lease_expired": "queued",
    "released": "queued",
    "continued": "queued",
    "cancel_requested": "running",
    "requeued": "queued",
}
"""The job's status once an event of each kind happened (what each SSE message reports)."""

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(authenticated)])
Caller = Depends(authenticated)


class SubmitJob(BaseModel):
    """A run of `workflow` for a worker to pick up; `input` is what `lockstep submit` builds
    (brief: `topic`, `sources`; training: the request's fields)."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(examples=["brief"])
    input: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"topic": "Should Calder Bay cap short-term rentals?", "sources": "corpus"}],
    )
    queue: str | None = Field(default=None, description="Default: the config's default queue.")
    priority: Literal["urgent", "normal", "batch"] | Annotated[int, Field(ge=0, le=100)] | None = (
        Field(default=None, description="urgent, normal, batch or 0-100 (lower runs first).")
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A repeat with the same key returns the existing job.",
    )
    thread_id: str | None = IdField("Default: job-<job id>. One ID syntax: letters, digits, _.-")


def queue_of(request: Request) -> JobQueue:
    queue: JobQueue = client_of(request).sync.queue
    return queue


def sees_all(principal: Principal) -> bool:
    """Operators and admins see (and may cancel) every job."""
    return principal.can("operator")


def visible(request: Request, principal: Principal, job_id: str, *, events: bool = False) -> Job:
    """The job if the caller may see it; another user's job reads as unknown."""
    job = queue_of(request).get(job_id, events=events)
    if not (sees_all(principal) or job.user_name == principal.user):
        raise JobNotFound(job_id)
    return job


def shown(job: Job, principal: Principal) -> dict[str, Any]:
    """A job as the caller sees it: operators see other users' jobs with every artifact
    reference in the input redacted (they manage the queue; the content is not theirs)."""
    doc = job.to_dict()
    if job.user_name != principal.user and "admin" not in principal.roles:
        doc["input"] = redact_refs(doc["input"])
    return doc


def _after(after: int | None, last_event_id: str | None) -> int:
    """Where a stream resumes: the `Last-Event-ID` header, else `?after=`, else the start."""
    if last_event_id is not None and last_event_id.strip():
        try:
            value = int(last_event_id.strip())
        except ValueError:
            raise HTTPException(422, "Last-Event-ID must be an event number") from None
        if not 0 <= value <= INT_MAX:
            raise HTTPException(422, "Last-Event-ID must be an event number from 0 to 2^63-1")
        return value
    return after or 0


def message(event: dict[str, Any]) -> ServerSentEvent:
    """One job event as an SSE message: `id` the event number, `event` its kind."""
    data = {
        "job_id": event["job_id"],
        "kind": event["kind"],
        "at": iso(event["at"]),
        "detail": event["detail"],
        "status": STATUS_AFTER.get(event["kind"], "unknown"),
    }
    return ServerSentEvent(json.dumps(data), event=event["kind"], id=str(event["seq"]))


async def _job_stream(queue: JobQueue, job_id: str, after: int) -> AsyncIterator[ServerSentEvent]:
    """Replay the job's events after `after`, then follow; end once it is final and its final
    event has been sent (the status is written just before the event, so wait for both)."""
    cursor = after
    while True:
        try:
            job = await asyncio.to_thread(queue.get, job_id)
        except JobNotFound:  # purged while watched
            return
        events = await asyncio.to_thread(queue.events, job_id, after=cursor)
        for event in events:
            yield message(event)
            cursor = int(event["seq"])
        if job.final:
            latest = events or (await asyncio.to_thread(queue.events, job_id))[-1:]
            if not latest or STATUS_AFTER.get(latest[-1]["kind"]) in FINAL:
                return
        await asyncio.sleep(POLL_SECONDS)


async def _feed(queue: JobQueue, user: str | None, after: int) -> AsyncIterator[ServerSentEvent]:
    """Every event of `user`'s jobs (every job's for None) after event `after`."""
    cursor = after
    while True:
        events = await asyncio.to_thread(queue.feed, after=cursor, user=user)
        for event in events:
            yield message(event)
            cursor = int(event["seq"])
        if not events:
            await asyncio.sleep(POLL_SECONDS)


SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
}
AfterQuery = Annotated[
    int | None,
    Query(ge=0, le=INT_MAX, description="Resume after this event number (or Last-Event-ID)."),
]
LastEventId = Annotated[
    str | None, Header(max_length=20, description="Resume after this event number.")
]
JobId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description="A job ID (`lockstep.ids`).")
]


@router.post("", status_code=202)
def submit_job(body: SubmitJob, request: Request, principal: Principal = Caller) -> dict[str, Any]:
    """Queue a workflow run for a worker (a Temporal workflow with `engine: temporal`); 202
    with the job.

    422 for bad input, 429 with Retry-After when the caller's submit limit is spent, 409 when
    a `reject` concurrency limit refuses."""
    require(principal, "submitter")
    check_input_refs(request, principal, body.input)
    job = engines.submit(
        queue_of(request),
        body.workflow,
        body.input,
        queue=body.queue,
        priority=body.priority,
        user=principal.user,
        idempotency_key=body.idempotency_key,
        thread_id=body.thread_id,
    )
    if not (sees_all(principal) or job.user_name == principal.user):
        raise SubmitRefused("that idempotency key belongs to another user's job: pick another")
    return shown(job, principal)


@router.get("")
def list_jobs(
    request: Request,
    principal: Principal = Caller,
    status: str | None = Query(default=None, description="queued, running, waiting_human, ..."),
    queue: str | None = None,
    workflow: str | None = None,
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Jobs, newest first: the caller's own (every job, for operators and admins)."""
    found = queue_of(request).find(
        status=check_status(status),
        queue=queue,
        workflow=workflow,
        user=None if sees_all(principal) else principal.user,
        limit=limit,
        newest_first=True,
    )
    return [shown(j, principal) for j in found]


@router.get("/events", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def all_events(
    request: Request,
    after: AfterQuery = None,
    last_event_id: LastEventId = None,
    principal: Principal = Caller,
) -> EventSourceResponse:
    """Live events of the caller's jobs as SSE (every job's for operators and admins).

    From now on, or after `Last-Event-ID` / `?after=`; the stream stays open."""
    queue = queue_of(request)
    if after is not None or last_event_id:
        start = _after(after, last_event_id)
    else:  # now, fixed before the response starts: nothing between is missed
        start = await asyncio.to_thread(queue.last_event_seq)
    user = None if sees_all(principal) else principal.user
    return EventSourceResponse(_feed(queue, user, start), ping=PING_SECONDS)


@router.get("/{job_id}")
def get_job(job_id: JobId, request: Request, principal: Principal = Caller) -> dict[str, Any]:
    """One job with its lifecycle events."""
    return shown(visible(request, principal, job_id, events=True), principal)


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def job_events(
    job_id: JobId,
    request: Request,
    after: AfterQuery = None,
    last_event_id: LastEventId = None,
    principal: Principal = Caller,
) -> EventSourceResponse:
    """The job's lifecycle events as SSE, ending once the job is final.

    Replayed after `Last-Event-ID` / `?after=`, then live; final statuses: succeeded, failed,
    dead_lettered, cancelled, timed_out."""
    start = _after(after, last_event_id)
    await asyncio.to_thread(visible, request, principal, job_id)
    return EventSourceResponse(_job_stream(queue_of(request), job_id, start), ping=PING_SECONDS)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: JobId, request: Request, principal: Principal = Caller) -> dict[str, Any]:
    """Cancel the job and its children.

    Queued or waiting ones at once, running ones at their next step boundary (the job shows
    `cancel_requested` until its worker stops it)."""
    job = visible(request, principal, job_id)
    if not sees_all(principal):
        require(principal, "submitter")
    return shown(engines.cancel(queue_of(request), job, by=principal.user), principal)
