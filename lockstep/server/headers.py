"""`SecurityHeaders`: the browser-facing headers every response carries.

The web page loads only its own script and stylesheet and shows diagrams through blob URLs,
so its policy allows nothing else; FastAPI's /docs and /redoc pages load their viewers from a
CDN and start them with an inline script, so those two pages get a policy that allows that,
and LangServe's playgrounds get one allowing their inline start and styles (own origin only).
No page may be framed (clickjacking), sniffed into another type, or leak its URL onward.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "DOCS_CSP", "PLAYGROUND_CSP", "SecurityHeaders", "policy_of"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The policy of every response but the API viewers."""
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The policy of /docs and /redoc (viewers from jsdelivr, started inline)."""
_DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc")
PLAYGROUND_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; base-uri 'self'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The policy of LangServe's playgrounds (`/langserve/<workflow>/playground/`): their bundle
is served from here, but it starts inline, styles itself with inline `<style>` tags and
compiles its form schemas with `new Function` (ajv), hence `unsafe-eval` on these pages only."""


def policy_of(path: str) -> str:
    if path in _DOCS:
        return DOCS_CSP
    if path.startswith("/langserve/") and "/playground" in path:
        return PLAYGROUND_CSP
    return CSP


class SecurityHeaders:
    """ASGI middleware adding CSP, nosniff, frame and referrer headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_of(str(scope.get("path") or ""))
        extra = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        *((k, v) for k, v in extra if k not in names),
                    ],
                }
            await send(message)

        await self.app(scope, receive, with_headers)
