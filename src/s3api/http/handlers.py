"""Exception handlers: every failure leaves as the error envelope, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from s3api.common.errors import StorageUnavailableError
from s3api.errors import ApiError, ErrorCode
from s3api.http.envelope import error_response, request_id_of

logger = logging.getLogger("s3api.errors")

_HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_STATUS_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    """Which fields failed and why, without echoing the submitted values."""
    fields = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        message = str(item.get("msg"))
        if item.get("type") == "union_tag_invalid":
            # pydantic's message quotes the submitted tag
            expected = item.get("ctx", {}).get("expected_tags", "")
            message = f"Input tag must be one of {expected}"
        fields.append({"field": ".".join(location) or "body", "message": message})
    return {"fields": fields}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(request_id_of(request), exc)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    malformed = any(item.get("type") == "json_invalid" for item in exc.errors())
    message = "Malformed JSON body" if malformed else "Request validation failed"
    error = ApiError(ErrorCode.VALIDATION_FAILED, message, _validation_details(exc))
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
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(StorageUnavailableError, _storage_down)
