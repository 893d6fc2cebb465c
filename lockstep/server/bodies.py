"""`BodyGuard`: request bodies are read, counted and checked once, before any route sees them.

Every body, with or without Content-Length (chunked), counts toward `MAX_BODY` (413 beyond).
A body that is JSON is refused with 422 before a route parses it when `json_problem` finds it
hostile (nesting deeper than `MAX_DEPTH`, NaN or Infinity, a number outside the 64-bit
range), and so is a body sent as JSON that is not UTF-8. Refusals never echo the body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockstep.json_limits import INT_MAX, MAX_DEPTH, json_problem
from lockstep.server.errors import error_response

__all__ = ["INT_MAX", "MAX_BODY", "MAX_DEPTH", "BodyGuard", "json_problem"]

MAX_BODY = 1_000_000
"""Largest request body accepted, in bytes (413 beyond)."""


class BodyGuard:
    """ASGI middleware: read the whole body (at most `limit` bytes, 413 beyond, counted as it
    streams in), refuse hostile JSON (`json_problem`) with 422, then hand the route the body."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = error_response(413, "the request body is over 1 MB")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            why = json_problem(body)
            if why is None and b"json" in headers.get(b"content-type", b"").lower():
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    why = f"a JSON body must be UTF-8 (byte {exc.start} is not)"
            if why is not None:
                await error_response(422, why)(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
