"""The one pure ASGI middleware in front of the routes.

Request ids (with the log context), the access log line, the request metrics, CORS, the
request-body limit and body rules, and the last-resort error handler used to be stacked
layers, each wrapping `send` and re-reading the headers; here they are one pass over the
request headers and one `send` wrapper.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from s3api.errors import ApiError, ErrorCode, payload_too_large
from s3api.http.envelope import error_response
from s3api.observability.log_context import request_log_context
from s3api.observability.metrics import observe_http_request

access_logger = logging.getLogger("s3api.access")
error_logger = logging.getLogger("s3api.errors")

_QUIET_ACCESS_LOG = "quiet_access_log"
_LOGGED_PATH = "logged_path"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

BodyRule = Callable[[bytes], None]


@dataclass(frozen=True)
class CorsPolicy:
    """Which browser origins may call the API (Starlette's CORS rules)."""

    allow_origins: Sequence[str]
    allow_origin_regex: str | None
    expose_headers: Sequence[str]


@dataclass(frozen=True)
class BodyLimit:
    """JSON bodies are read up front: refused over `max_body_bytes`, checked by `rules`."""

    max_body_bytes: int
    exempt_prefixes: tuple[str, ...]
    rules: tuple[BodyRule, ...] = ()


@dataclass
class _RequestHeaders:
    """The request headers this middleware looks at, found in one pass."""

    request_id: str | None = None
    origin: bool = False
    preflight_method: bool = False
    content_length: int | None = None  # None too when the header is malformed
    length_header: bool = False
    transfer_encoding: bool = False


def _read_headers(scope: Scope) -> _RequestHeaders:
    found = _RequestHeaders()
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            found.request_id = candidate if _CLIENT_REQUEST_ID.match(candidate) else None
        elif name == b"origin":
            found.origin = True
        elif name == b"access-control-request-method":
            found.preflight_method = True
        elif name == b"transfer-encoding":
            found.transfer_encoding = True
        elif name == b"content-length":
            found.length_header = True
            try:
                found.content_length = int(value)
            except ValueError:
                found.content_length = None
    return found


class _RequestIds:
    """Fresh request ids: a random half drawn once per process and a counter, 32 hex digits.
    They must be unique, not secret; drawing 16 random bytes per request cost a system call."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


def _request_id_of(scope: Scope) -> str:
    """The id the middleware stored in the scope."""
    return str(scope.get("state", {}).get("request_id", ""))


def _log_access(scope: Scope, request_id: str, status: int, seconds: float) -> None:
    quiet = scope["state"].get(_QUIET_ACCESS_LOG, False)
    path = scope["state"].get(_LOGGED_PATH, scope["path"])
    access_logger.log(
        logging.DEBUG if quiet else logging.INFO,
        "request_id=%s method=%s path=%s status=%d duration_ms=%.1f",
        request_id,
        scope["method"],
        path,
        status,
        seconds * 1000,
        # separate fields for JSON log lines
        extra={
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        },
    )


class ApiEdgeMiddleware:
    """Per request: an id (a well-formed incoming `X-Request-ID`, else a new one) echoed in
    `X-Request-ID` and bound to the log context; one access log line and the request
    metrics; CORS, with a refused preflight answered in the error
    envelope; the JSON body limit (413 by header and while streaming) and body rules; and an
    unexpected exception turned into the 500 envelope, still carrying CORS headers so that
    browsers can read it."""

    def __init__(
        self, app: ASGIApp, *, cors: CorsPolicy | None = None, body: BodyLimit | None = None
    ) -> None:
        self.app = app
        self.body = body
        # made with the app, so each serving process draws its own
        self._request_ids = _RequestIds()
        self.cors = (
            None
            if cors is None
            else CORSMiddleware(
                app,
                allow_origins=cors.allow_origins,
                allow_origin_regex=cors.allow_origin_regex,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=cors.expose_headers,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _read_headers(scope)
        request_id = found.request_id or self._request_ids.new()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        request_id_header = (b"x-request-id", request_id.encode())
        cors = self.cors
        request_headers = Headers(scope=scope) if cors is not None and found.origin else None
        # a preflight answer carries its own CORS headers
        preflight = request_headers is not None and _is_preflight(scope, found)
        status = 500
        response_started = False

        async def edge_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] != "http.response.start":
                await send(message)
                return
            status = message["status"]
            response_started = True
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"x-request-id"
            ]
            headers.append(request_id_header)
            message["headers"] = headers
            if cors is None or preflight:
                await send(message)
            elif request_headers is None and not any(n.lower() == b"vary" for n, _ in headers):
                headers.append((b"vary", b"Origin"))
                await send(message)
            else:
                await cors.send(message, send, request_headers or Headers(scope=scope))

        with request_log_context(request_id):
            try:
                if preflight:
                    assert cors is not None
                    assert request_headers is not None
                    response = cors.preflight_response(request_headers=request_headers)
                    if response.status_code >= 400:
                        refused = ApiError(ErrorCode.VALIDATION_FAILED, "CORS preflight refused")
                        response = error_response(request_id, refused)
                    await response(scope, receive, edge_send)
                elif (
                    self.body is not None
                    and _may_have_body(found)
                    and not scope["path"].startswith(self.body.exempt_prefixes)
                ):
                    await self._with_buffered_body(scope, receive, edge_send, found, request_id)
                else:
                    await self.app(scope, receive, edge_send)
            except Exception:
                error_logger.exception("unhandled error request_id=%s", request_id)
                if response_started:
                    raise
                await error_response(request_id, ApiError(ErrorCode.INTERNAL_ERROR))(
                    scope, receive, edge_send
                )
            finally:
                seconds = time.perf_counter() - started
                observe_http_request(scope, status, seconds)
                _log_access(scope, request_id, status, seconds)

    async def _with_buffered_body(
        self, scope: Scope, receive: Receive, send: Send, found: _RequestHeaders, request_id: str
    ) -> None:
        """Read the (small, JSON) body up front so an oversized one is refused here with 413,
        before any route or body parser sees it, then replay it to the application."""
        assert self.body is not None
        limit = self.body.max_body_bytes
        if found.content_length is not None and found.content_length > limit:
            await error_response(request_id, payload_too_large(limit))(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                response = error_response(request_id, payload_too_large(limit))
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            for rule in self.body.rules:
                rule(body)
        except ApiError as refused:
            await error_response(request_id, refused)(scope, receive, send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


def log_access_at_debug(request: Request) -> None:
    """Keep this request's access line out of INFO logs (e.g. an idle worker's empty polls)."""
    request.scope["state"][_QUIET_ACCESS_LOG] = True


async def log_route_template(request: Request) -> None:
    """Log this request's route template (`/share/{token}`), not its path: the path holds
    a credential that must not reach the logs."""
    route = request.scope.get("route")
    request.scope["state"][_LOGGED_PATH] = getattr(route, "path", "(redacted)")


def _may_have_body(found: _RequestHeaders) -> bool:
    """HTTP/1.1 frames a body by `Content-Length` or `Transfer-Encoding` only: a request
    with neither (most GETs) has none to limit or check, so it is not buffered."""
    return found.transfer_encoding or (found.length_header and found.content_length != 0)


def _is_preflight(scope: Scope, found: _RequestHeaders) -> bool:
    return scope["method"] == "OPTIONS" and found.origin and found.preflight_method


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A `receive` that yields `messages` first, then defers to `then` (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
