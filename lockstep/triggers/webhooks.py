"""`POST /hooks/{name}`: signed webhook calls that submit jobs or answer gates.

A call is checked in this order, and each refusal enqueues nothing:

    413  body over 1 MB                 404  no webhook of that name
    401  unsigned, stale (> 5 min), bad or replayed signature (see `signing`)
    400  body is not JSON (or a bad delivery id)
    422  payload fails the trigger's JSON schema, or its input mapping cannot be rendered
         (a missing field, a template the sandbox refuses) or the workflow refuses the input
    429  a submit rate limit is spent (Retry-After says for how long)
    409  the queue refuses the submit, or (approvals) the gate refuses the decision
    202  {"job_id", "thread_id", "trigger", "delivery"}: queued

Every signature is spent on first use (`lockstep_webhook_signatures`), so a replayed call is
401 even within the 5 minutes; the same body signed twice in one second is the same signature,
so a sender puts an event id in the body (or waits a second). `X-Lockstep-Delivery` makes a
delivery idempotent: the same id re-sent (signed afresh) answers 202 with the first call's job
(a delivery refused by a rate limit may be re-sent and fire then). A `human_approval` trigger with
a `secret_env` takes `{"thread_id", "decision", "by", "comment"?}` and answers that thread's
gate, recording the sender (`by`, via the hook) in the audit log.

`webhook_router()` is an APIRouter other FastAPI apps can include; `lockstep serve` mounts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from lockstep.client import Lockstep
from lockstep.errors import LockstepError, TriggerError, http_reply
from lockstep.ids import ID_MAX, ID_PATTERN
from lockstep.json_limits import json_problem
from lockstep.ownership import check_refs
from lockstep.queue.config import QueueConfig, load_config
from lockstep.queue.templates import render_mapping
from lockstep.queue.trigger_config import ApprovalTrigger, WebhookTrigger
from lockstep.triggers.approvals import decide, map_decision
from lockstep.triggers.fires import fire
from lockstep.triggers.signing import (
    DELIVERY_HEADER,
    TOLERANCE,
    SignatureError,
    verify,
)

__all__ = ["APPROVAL_SCHEMA", "MAX_BODY", "Webhooks", "webhook_router"]

MAX_BODY = 1_000_000
"""Largest webhook body accepted, in bytes (413 beyond)."""

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["thread_id", "decision", "by"],
    "properties": {
        "thread_id": {"type": "string", "pattern": ID_PATTERN, "maxLength": ID_MAX},
        "decision": {"type": "string", "minLength": 1},
        "by": {"type": "string", "minLength": 1},
        "comment": {"type": "string"},
    },
    "additionalProperties": False,
}
"""What an approval webhook carries: whose gate, the decision, who decided."""

Reply = tuple[int, dict[str, Any], dict[str, str]]


def _schema_problem(schema: Mapping[str, Any], payload: Any) -> str | None:
    validator = validator_for(schema, default=Draft202012Validator)(schema)
    error = next(iter(sorted(validator.iter_errors(payload), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"payload fails the schema at {where}: {error.message}"


class Webhooks:
    """Receives webhook calls on one database and configuration (thread-safe: one call at a
    time, each in its own transaction)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        config: QueueConfig | str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = database_url
        self.config = config if isinstance(config, QueueConfig) else load_config(config)
        self.clock = clock
        self._client: Lockstep | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Lockstep:
        if self._client is None:
            self._client = Lockstep(self.url, config=self.config)
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def receive(
        self, name: str, headers: Mapping[str, str], body: bytes, *, remote: str | None = None
    ) -> Reply:
        """Check, record and act on one call; returns (status, JSON body, extra headers)."""
        if len(body) > MAX_BODY:
            return 413, {"detail": "request body over 1 MB"}, {}
        trigger = self.config.hook(name)
        if trigger is None:
            return 404, {"detail": f"no webhook named {name!r}"}, {}
        assert trigger.secret_env is not None
        secret = os.environ.get(trigger.secret_env)
        if not secret:
            return 503, {"detail": f"webhook {name!r} has no secret: set ${trigger.secret_env}"}, {}
        lowered = {k.lower(): v for k, v in headers.items()}
        delivery = lowered.get(DELIVERY_HEADER.lower())
        if delivery is not None and not (0 < len(delivery) <= 200 and delivery.isprintable()):
            return 400, {"detail": f"{DELIVERY_HEADER} must be 1-200 printable characters"}, {}
        with self._lock:
            try:
                return self._receive(name, trigger, secret, lowered, body, delivery, remote)
            except LockstepError as exc:
                return _refusal(exc)

    def _receive(
        self,
        name: str,
        trigger: WebhookTrigger | ApprovalTrigger,
        secret: str,
        headers: Mapping[str, str],
        body: bytes,
        delivery: str | None,
        remote: str | None,
    ) -> Reply:
        now = self.clock()
        try:
            signature = verify(secret, headers, body, now=now)
        except SignatureError as exc:
            return 401, {"detail": str(exc)}, {}
        db = self.client.db
        db.execute("DELETE FROM lockstep_webhook_signatures WHERE at < ?", (now - 2 * TOLERANCE,))
        fresh = db.rowcount(
            "INSERT INTO lockstep_webhook_signatures (signature, hook, at) VALUES (?, ?, ?) "
            "ON CONFLICT (hook, signature) DO NOTHING",
            (signature, name, now),
        )
        if not fresh:
            return 401, {"detail": "replayed signature: sign each delivery afresh"}, {}
        hostile = json_problem(body)
        if hostile is not None:
            return 422, {"detail": hostile}, {}
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return 400, {"detail": f"body is not valid JSON: {exc}"}, {}
        schema = trigger.schema_ if isinstance(trigger, WebhookTrigger) else APPROVAL_SCHEMA
        problem = _schema_problem(schema, payload) if schema is not None else None
        if problem:
            return 422, {"detail": problem}, {}
        detail = {"delivery": delivery, "remote": remote, "signature": signature[:16]}
        if isinstance(trigger, ApprovalTrigger):
            return self._approve(name, trigger, payload, detail)
        key = f"delivery:{delivery}" if delivery else f"signature:{signature}"
        queue = self.client.queue
        self._check_refs(name, trigger, payload)
        done = fire(
            queue,
            name,
            "webhook",
            key,
            trigger.action,
            {"event": payload},
            detail=detail,
            retry_failed=True,
        )
        if done.refusal is not None and not isinstance(done.refusal, TriggerError):
            status, content, extra = _refusal(done.refusal)
            return status, {"detail": done.error or content["detail"]}, extra
        if done.status != "submitted" or done.job_id is None:
            return 422, {"detail": done.error or "the trigger did not fire"}, {}
        job = queue.get(done.job_id)
        reply = {"job_id": job.id, "thread_id": job.thread_id, "trigger": name}
        return 202, {**reply, "delivery": delivery, "duplicate": not done.won}, {}

    def _check_refs(self, name: str, trigger: WebhookTrigger, payload: Any) -> None:
        """Artifact references in the input the call would submit must be readable by the
        user the job runs as (`action.user`, else `trigger:<name>`), as any submit's are; one
        that is not reads as unknown (404). A mapping that cannot render is left to `fire`."""
        user = trigger.action.user or f"trigger:{name}"
        try:
            inputs = render_mapping(trigger.action.input_mapping, {"event": payload})
        except TriggerError:
            return
        check_refs(self.client.db, inputs, lambda owner: owner == user)

    def _approve(
        self, name: str, trigger: ApprovalTrigger, payload: Mapping[str, Any], detail: Any
    ) -> Reply:
        client = self.client
        thread_id = str(payload["thread_id"])
        status = client.status(thread_id)
        gate = (status.gate or {}).get("gate")
        if status.workflow != trigger.workflow or gate != trigger.waiting_for:
            return (
                409,
                {
                    "detail": f"thread {thread_id} is not waiting at {trigger.workflow} gate "
                    f"{trigger.waiting_for!r} (it is {status.status})"
                },
                {},
            )
        decision = map_decision(trigger, str(payload["decision"]))
        by = str(payload["by"])
        job = decide(
            client, client.queue, thread_id, decision, by=by, comment=payload.get("comment")
        )
        client.db.record(
            thread_id,
            "approval_webhook",
            {"hook": name, "gate": gate, "decision": decision, "by": by, **detail},
            f"hook:{name}",
        )
        reply = {"job_id": job.id, "thread_id": thread_id, "trigger": name, "decision": decision}
        return 202, {**reply, "delivery": detail.get("delivery")}, {}


def _refusal(exc: LockstepError) -> Reply:
    status, headers = http_reply(exc)
    return status, {"detail": str(exc)}, headers


async def _body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY (counted as it streams in)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return None
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_router(hooks: Webhooks | None = None, **options: Any) -> APIRouter:
    """An APIRouter serving `POST /hooks/{name}` (include it in any FastAPI app); `options`
    build a `Webhooks` (database_url, config) when none is given."""
    receiver = hooks or Webhooks(**options)
    router = APIRouter(tags=["triggers"])

    @router.post("/hooks/{name}", status_code=202)
    async def hook(name: str, request: Request) -> JSONResponse:
        """A signed webhook call: queue the trigger's workflow (or answer a gate)."""
        body = await _body(request)
        if body is None:
            return JSONResponse({"detail": "request body over 1 MB", "error": "TooLarge"}, 413)
        remote = request.client.host if request.client else None
        status, content, headers = await asyncio.to_thread(
            receiver.receive, name, dict(request.headers), body, remote=remote
        )
        if status >= 400:  # lockstep's one error body: detail and error
            content = {"error": HTTPStatus(status).phrase.replace(" ", ""), **content}
        return JSONResponse(content, status, headers=headers)

    return router
