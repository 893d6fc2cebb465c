"""The OpenAPI document as the server really answers: every refusal status on every operation,
each with lockstep's `Error` body (which replaces FastAPI's validation-error schema).

Which statuses an operation lists: 401 and 403 when it needs a key; 404, 413, 422 and 503
everywhere (unknown IDs, a body over 1 MB, bad input, the database away); 409 and 429 on
every POST (a refused decision or submit, a spent rate limit); 400 on webhooks (not JSON)
and LangServe routes (its own refusals: an invalid config hash, feedback turned off).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lockstep.server.errors import Error

__all__ = ["OPEN_PATHS", "install_openapi"]

OPEN_PATHS = ("/healthz", "/readyz", "/ui/config", "/hooks/{name}")
"""Operations that need no API key (webhooks are signed instead)."""

_REASONS = {
    400: "Refused by LangServe (an invalid config hash, feedback off) or a webhook body that "
    "is not JSON",
    401: "No valid API key",
    403: "The key's roles do not allow this",
    404: "Unknown, or not the caller's to see",
    409: "Refused in the current state",
    413: "Request body over 1 MB",
    422: "Invalid request",
    429: "Rate limit spent (see Retry-After)",
    503: "The database is unavailable",
}
_ERROR = {"$ref": "#/components/schemas/Error"}
_READY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}},
                "required": ["ok"],
            }
        }
    }
}
"""/readyz's body, failing or not (`detail` only for operators)."""
_LINKS = {
    ("/jobs", "post", "202"): (
        "job_id",
        "$response.body#/id",
        ["/jobs/{job_id}", "/jobs/{job_id}/cancel"],
    ),
    ("/threads", "post", "200"): (
        "thread_id",
        "$response.body#/thread_id",
        ["/threads/{thread_id}", "/threads/{thread_id}/history", "/threads/{thread_id}/artifacts"],
    ),
}
"""OpenAPI links (what a created job or thread's ID can be used for next): clients and
stateful testers follow them."""


def _add_links(doc: dict[str, Any]) -> None:
    paths = doc.get("paths", {})
    for (path, method, code), (name, value, targets) in _LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(code)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target in targets:
            for operation in paths.get(target, {}).values():
                if isinstance(operation, dict) and "operationId" in operation:
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": {name: value},
                    }


def _statuses(path: str, method: str) -> list[int]:
    codes = [404, 413, 422, 503]
    if path not in OPEN_PATHS:
        codes += [401, 403]
    if method == "post":
        codes += [409, 429]
    if path == "/hooks/{name}":
        codes += [400, 401]
    if path.startswith("/langserve/"):
        codes += [400]
    return sorted(set(codes))


def lockstep_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for `app`, with the `Error` body and every refusal status."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error.pop("$defs", {}))
    schemas["Error"] = error
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _statuses(path, method):
                responses[str(code)] = {
                    "description": _REASONS[code],
                    "content": {"application/json": {"schema": _ERROR}},
                }
            if path == "/readyz":
                responses["503"] = {"description": "The database does not answer", **_READY}
    _add_links(doc)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve `lockstep_openapi(app)` at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = lockstep_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
