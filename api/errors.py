"""Masked errors with stable codes, and the early refusal of oversized bodies.

Every error a client sees is JSON `{"error": {"code", "message", "request_id"}}` with one of
the codes below (or a khub error's own `code`, e.g. `CONSTRAINT_VIOLATION`). Messages come from
khub's own errors, which name the offending item; anything else (a bug, a driver exception) is
logged server-side with its traceback and answered with `INTERNAL` and the request id only, so
no stack trace, path or driver message ever reaches a client.

`BodyLimitMiddleware` refuses a request whose body is too large with 413 before the handler
runs: at once when `Content-Length` says so, or as soon as a streamed (chunked) body passes the
limit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ontology.errors import (
    BadInput,
    ConsentDenied,
    KhubError,
    NotFound,
    OntologyViolation,
    QueryRefused,
    QueryTimeout,
    SchemaInvalid,
    StoreUnavailable,
)

log = logging.getLogger("khub.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
PURPOSE_REQUIRED = "PURPOSE_REQUIRED"
RATE_LIMITED = "RATE_LIMITED"
BAD_INPUT = "BAD_INPUT"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
TIMEOUT = "TIMEOUT"
UNAVAILABLE = "UNAVAILABLE"
INTERNAL = "INTERNAL"

#: Every code this module emits itself, with its HTTP status (khub errors add their own codes).
CODES: dict[str, int] = {
    UNAUTHENTICATED: 401,
    FORBIDDEN: 403,
    PURPOSE_REQUIRED: 400,
    RATE_LIMITED: 429,
    BAD_INPUT: 400,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    TIMEOUT: 504,
    UNAVAILABLE: 503,
    INTERNAL: 500,
}

_STATUS_CODES = {
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    429: RATE_LIMITED,
}


class ApiError(Exception):
    """An error meant for the client: HTTP status, stable code, a message safe to show."""

    def __init__(self, code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or CODES.get(code, 400)
        self.headers = headers or {}


class ErrorDetail(BaseModel):
    """The body of an error: a stable code, a human message, the request id to quote."""

    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """What every failed request answers."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses (all share `ErrorResponse`)."""
    names = {v: k for k, v in reversed(CODES.items())}
    return {s: {"model": ErrorResponse, "description": names.get(s, "error")} for s in statuses}


def request_id_of(scope_or_request: Request | Scope) -> str:
    """The request id the middleware gave this request ("-" outside a request)."""
    scope = scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def error_response(code: str, message: str, request_id: str, status: int | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(error_body(code, message, request_id), status_code=status or CODES.get(code, 400), headers=headers)


def from_khub_error(exc: KhubError) -> ApiError:
    """The client-facing form of one of khub's own errors (their messages name the item, no internals)."""
    if isinstance(exc, QueryTimeout):
        return ApiError(TIMEOUT, str(exc), 504)
    if isinstance(exc, StoreUnavailable):
        return ApiError(UNAVAILABLE, "the graph store is unavailable; try again later", 503)
    if isinstance(exc, NotFound):
        return ApiError(NOT_FOUND, str(exc), 404)
    if isinstance(exc, ConsentDenied):
        return ApiError(exc.code, str(exc), 403)
    if isinstance(exc, BadInput):
        return ApiError(BAD_INPUT, str(exc), 400)
    if isinstance(exc, (OntologyViolation, QueryRefused, SchemaInvalid)):
        return ApiError(exc.code, str(exc), 400)
    return ApiError(exc.code, str(exc), 400)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as JSON with a stable code."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.message, request_id_of(request), exc.status, exc.headers)

    async def khub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, KhubError)
        api = from_khub_error(exc)
        if api.status >= 500:
            log.warning("request %s: %s: %s", request_id_of(request), type(exc).__name__, exc)
        return error_response(api.code, api.message, request_id_of(request), api.status)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(BAD_INPUT, _validation_message(exc), request_id_of(request), 400)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, BAD_INPUT if exc.status_code < 500 else INTERNAL)
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 500 else code.lower().replace("_", " ")
        return error_response(code, message, request_id_of(request), exc.status_code, dict(exc.headers or {}))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(KhubError, khub_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def send_error(send: Send, code: str, message: str, request_id: str, status: int | None = None, headers: Iterable[tuple[str, str]] = ()) -> None:
    """Send a JSON error straight from ASGI middleware."""
    await error_response(code, message, request_id, status, dict(headers))({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class BodyTooLarge(HTTPException):
    """Raised while a streamed body passes its limit (an HTTPException, so body parsing re-raises it as is)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is over the limit of {_size(limit)}")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n} bytes"


class BodyLimitMiddleware:
    """Refuse bodies over `limit_for(path)` bytes with 413 before the handler reads them."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await send_error(send, BAD_INPUT, "Content-Length is not a number", request_id_of(scope), 400)
                    return
        if length is not None and length > limit:
            await send_error(send, PAYLOAD_TOO_LARGE, f"the request body ({_size(length)}) is over the limit of {_size(limit)}", request_id_of(scope), 413)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


class CatchAllMiddleware:
    """The outermost guard: an exception nobody handled becomes `INTERNAL`, logged with its traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ApiError as exc:
            if not started:
                await send_error(send, exc.code, exc.message, request_id_of(scope), exc.status, exc.headers.items())
        except StarletteHTTPException as exc:  # e.g. a streamed body over the limit, raised outside a handler
            if not started:
                code = _STATUS_CODES.get(exc.status_code, BAD_INPUT if exc.status_code < 500 else INTERNAL)
                await send_error(send, code, str(exc.detail), request_id_of(scope), exc.status_code)
        except Exception:
            rid = request_id_of(scope)
            log.exception("request %s %s %s failed", rid, scope.get("method"), scope.get("path"))
            if not started:
                await send_error(send, INTERNAL, f"internal error; quote request id {rid} to the operator", rid, 500)
