"""Pure ASGI middleware: request ids, access log lines, request metrics and the body limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from s3api.errors import ApiError, ErrorCode
from s3api.http.envelope import error_response
from s3api.observability.log_context import request_log_context
from s3api.observability.metrics import observe_http_request

access_logger = logging.getLogger("s3api.access")
error_logger = logging.getLogger("s3api.errors")

_QUIET_ACCESS_LOG = "quiet_access_log"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id, echoes it in `X-Request-ID`, logs one line per request
    and counts it in the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with request_log_context(request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            finally:
                seconds = time.perf_counter() - started
                status = status_holder["status"]
                observe_http_request(scope, status, seconds)
                quiet = scope["state"].get(_QUIET_ACCESS_LOG, False)
                access_logger.log(
                    logging.DEBUG if quiet else logging.INFO,
                    "request_id=%s method=%s path=%s status=%d duration_ms=%.1f",
                    request_id,
                    scope["method"],
                    scope["path"],
                    status,
                    seconds * 1000,
                    # separate fields for JSON log lines
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                    },
                )


def log_access_at_debug(request: Request) -> None:
    """Keep this request's access line out of INFO logs (e.g. an idle worker's empty polls)."""
    request.scope["state"][_QUIET_ACCESS_LOG] = True


def _request_id_of(scope: Scope) -> str:
    """The id `RequestContextMiddleware` stored in the scope."""
    return str(scope.get("state", {}).get("request_id", ""))


def _incoming_request_id(scope: Scope) -> str | None:
    """Reuse a well-formed id sent by a proxy or client so logs join up across hops."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _CLIENT_REQUEST_ID.match(candidate) else None
    return None


BodyRule = Callable[[bytes], None]


class BufferedBodyMiddleware:
    """Reads a JSON body once, refusing it with 413 over the limit (by header and while
    streaming), checks it against the body rules, then replays it to the application."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        exempt_prefixes: tuple[str, ...],
        rules: tuple[BodyRule, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.exempt_prefixes = exempt_prefixes
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            request_id = _request_id_of(scope)
            await error_response(request_id, ApiError(ErrorCode.PAYLOAD_TOO_LARGE))(
                scope, receive, send
            )
            return
        # Read the (small, JSON) body up front so an oversized one is refused here with 413,
        # before any route or body parser sees it, then replay it to the application.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                request_id = _request_id_of(scope)
                response = error_response(request_id, ApiError(ErrorCode.PAYLOAD_TOO_LARGE))
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            for rule in self.rules:
                rule(body)
        except ApiError as refused:
            await error_response(_request_id_of(scope), refused)(scope, receive, send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, but a refused preflight answers the error envelope, not plain text."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    request_id = _request_id_of(scope)
                    refused = ApiError(ErrorCode.VALIDATION_FAILED, "CORS preflight refused")
                    response = error_response(request_id, refused)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class UnexpectedErrorMiddleware:
    """Turns an unexpected exception into the 500 envelope inside CORS, so browsers can read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        except Exception:
            request_id = _request_id_of(scope)
            error_logger.exception("unhandled error request_id=%s", request_id)
            if started:
                raise
            await error_response(request_id, ApiError(ErrorCode.INTERNAL_ERROR))(
                scope, receive, send
            )
