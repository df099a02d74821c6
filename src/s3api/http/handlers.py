"""Exception handlers: every failure leaves as the error envelope, never a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from s3api.common.errors import StorageUnavailableError
from s3api.db.readiness import is_unreachable_error
from s3api.errors import ApiError, ErrorCode
from s3api.http.envelope import error_response, request_id_of

logger = logging.getLogger("s3api.errors")

_HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_STATUS_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}

_OWN_WORDING = {"json_invalid", "union_tag_invalid", "union_tag_not_found"}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    """Which fields failed and why, in plain words, without echoing the submitted values."""
    fields = []
    for item in exc.errors():
        kind = item.get("type")
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        if kind == "json_invalid":
            fields.append({"field": "body", "message": _json_error_text(exc, item)})
            continue
        field = ".".join(location) or "body"
        message = str(item.get("msg"))
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            # pydantic's wording quotes the submitted tag and names no field
            ctx = item.get("ctx", {})
            discriminator = str(ctx.get("discriminator", "")).strip("'")
            field = f"{field}.{discriminator}"
            allowed = ", ".join(_tags_of(ctx.get("expected_tags")))
            if kind == "union_tag_invalid":
                message = f"{discriminator} must be one of: {allowed}"
            else:  # pydantic names no tags here
                message = f"{discriminator} is required"
        fields.append({"field": field, "message": message})
    return {"fields": fields}


def _tags_of(expected: object) -> list[str]:
    """pydantic's `'recolor', 'tone'` as the names themselves."""
    return [tag.strip().strip("'") for tag in str(expected or "").split(",") if tag.strip()]


def _json_error_text(exc: RequestValidationError, item: dict[str, Any]) -> str:
    """The JSON parser's complaint at a line and column of the body (FastAPI passes the
    character offset in `loc` and the text as the error's `body`)."""
    reason = str(item.get("ctx", {}).get("error", "invalid JSON"))
    offsets = [part for part in item.get("loc", ()) if isinstance(part, int)]
    document = exc.body if isinstance(exc.body, str) else None
    if not offsets or document is None:
        return f"Malformed JSON: {reason}"
    position = json.JSONDecodeError(reason, document, offsets[0])
    return f"Malformed JSON at line {position.lineno}, column {position.colno}: {reason}"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(request_id_of(request), exc)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    kinds = {item.get("type") for item in exc.errors()}
    # the plain-words messages written here name no client text: one alone is the message
    if len(details["fields"]) == 1 and kinds <= _OWN_WORDING:
        message = details["fields"][0]["message"]
    else:
        message = "Request validation failed"
    error = ApiError(ErrorCode.VALIDATION_FAILED, message, details)
    return error_response(request_id_of(request), error)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code)
    if code is None:
        code = ErrorCode.VALIDATION_FAILED if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        error = ApiError(code, status=exc.status_code)
    else:
        error = ApiError(code)
    response = error_response(request_id_of(request), error)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    allowed = []
    for method in _HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "database unavailable request_id=%s error=%s", request_id_of(request), type(exc).__name__
    )
    return error_response(request_id_of(request), ApiError(ErrorCode.UNAVAILABLE))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A driver error: 503 when the database refused the connection itself (no such
    database or role, too many connections, shutting down), else the unexpected error it is."""
    if is_unreachable_error(exc):
        return await _database_down(request, exc)
    raise exc


async def _storage_down(request: Request, exc: Exception) -> JSONResponse:
    logger.error("object storage unavailable request_id=%s error=%s", request_id_of(request), exc)
    error = ApiError(ErrorCode.UNAVAILABLE, "Object storage unavailable; retry later")
    return error_response(request_id_of(request), error)


def install_exception_handlers(app: FastAPI) -> None:
    """Register the handlers that turn known exceptions into the envelope; anything else
    reaches `ApiEdgeMiddleware`, the one last-resort handler."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(StorageUnavailableError, _storage_down)
