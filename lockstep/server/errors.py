"""lockstep's one error body, `{"detail": "<one line>", "error": "<kind>"}`, on every refusal.

Request validation adds `errors` (`loc`, `msg`, `type` per problem) but never the input that
was refused: an echoed body can carry values no JSON reply can hold (NaN) or text meant for
someone else's screen. The OpenAPI document describes this body as `Error` (see `openapi`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from lockstep.errors import LockstepError, http_reply

__all__ = ["Error", "ErrorItem", "error_response", "install_error_handlers", "one_line"]


class ErrorItem(BaseModel):
    """One problem with the request: where (`loc`), what (`msg`), which check (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class Error(BaseModel):
    """Every 4xx and 5xx body lockstep sends."""

    detail: str = Field(description="What was refused and why, in one line.")
    error: str = Field(description="The kind of error (a lockstep error class or HTTP reason).")
    errors: list[ErrorItem] | None = Field(
        default=None, description="Request validation only: each problem found."
    )


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return "Error"


def error_response(
    status: int,
    detail: str,
    error: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": one_line(detail), "error": error or _reason(status)}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status, headers)


def _items(raw: Any) -> list[dict[str, Any]]:
    items = []
    for e in raw:
        loc = [p if isinstance(p, int) else str(p) for p in e.get("loc", ())]
        items.append({"loc": loc, "msg": one_line(e.get("msg", "")), "type": str(e.get("type"))})
    return items


def install_error_handlers(app: FastAPI) -> None:
    """Answer lockstep errors, HTTP errors and validation errors with the `Error` body."""

    @app.exception_handler(LockstepError)
    async def lockstep_error(request: Request, exc: LockstepError) -> JSONResponse:
        status, headers = http_reply(exc)
        return error_response(status, str(exc), type(exc).__name__, headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = _items(exc.errors())
        first = items[0] if items else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        detail = f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
        return error_response(422, detail, "RequestValidationError", errors=items)
