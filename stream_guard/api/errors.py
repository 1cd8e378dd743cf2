"""Every error the API answers with: an HTTP status and ``{"code": …, "message": …}``.

The code is the one of ``docs/errors.md``: an :class:`~stream_guard.core.errors.ActionError`'s
own (``task-not-yours`` → 409 …), or one of the API's (``unauthorized``, ``forbidden``,
``bad-request``, ``not-found``, ``no-active-freeze``, ``redis-unreachable``). A request whose
body or query fails validation gets 422 with the problems in ``errors``; when the field at
fault has a code of its own (``outcome`` → ``bad-outcome``, ``reason`` → ``reason-required``,
``scope`` → ``bad-scope``, ``languages`` → ``bad-language``) that code is used.

>>> STATUS["task-not-yours"], STATUS["bad-outcome"], STATUS["task-not-found"]
(409, 422, 404)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from stream_guard.actions.connection import UNAVAILABLE
from stream_guard.core.errors import ActionError

log = logging.getLogger("stream_guard.api")

#: HTTP status per error code.
STATUS: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not-found": 404,
    "task-not-found": 404,
    "no-active-freeze": 404,
    "freeze-not-found": 404,
    "method-not-allowed": 405,
    "task-not-yours": 409,
    "task-closed": 409,
    "task-conflict": 409,
    "bad-request": 422,
    "bad-outcome": 422,
    "bad-scope": 422,
    "bad-language": 422,
    "reason-required": 422,
    "agent-required": 422,
    "redis-unreachable": 503,
}
#: A body or query field whose validation error has a code of its own.
_FIELD_CODES = {"outcome": "bad-outcome", "reason": "reason-required", "scope": "bad-scope",
                "languages": "bad-language", "lang": "bad-language"}


class ErrorBody(BaseModel):
    """What every error response carries."""

    code: str
    message: str
    errors: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """An error response: status, code, message."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers
        super().__init__(message)


def error_response(status: int, code: str, message: str, *, errors: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route documents in /openapi.json."""
    what = {401: "No valid bearer token", 403: "The token's role may not do this", 404: "Not found",
            409: "The task is not in a state for this", 422: "Bad input", 503: "Redis is unreachable"}
    return {c: {"model": ErrorBody, "description": what[c]} for c in codes}


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into the JSON above."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(ActionError)
    async def _action(request: Request, exc: ActionError) -> JSONResponse:
        return error_response(STATUS.get(exc.code, 409), exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()]
        codes = {_FIELD_CODES.get(p["loc"][1] if len(p["loc"]) > 1 else "", "bad-request") for p in problems}
        code = codes.pop() if len(codes) == 1 else "bad-request"
        message = "; ".join(f"{_where(p['loc'])}: {p['msg']}" for p in problems)
        return error_response(422, code, message, errors=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("stream-guard api: Redis unreachable (%s) for %s %s", exc, request.method, request.url.path)
        return error_response(503, "redis-unreachable", f"Redis is unreachable: {exc}", headers={"Retry-After": "5"})

    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, _redis_down)


def _where(loc: list[str]) -> str:
    """``["body", "outcome"]`` → ``outcome``; ``["query", "limit"]`` → ``limit``."""
    return ".".join(loc[1:]) or (loc[0] if loc else "request")
