"""The response envelope every answer uses, and its OpenAPI models."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from s3api.errors import ApiError
from s3api.timeutil import format_timestamp, utcnow

DataT = TypeVar("DataT")


class Meta(BaseModel):
    """Request metadata; may carry extra keys such as `next_cursor`."""

    model_config = ConfigDict(extra="allow")

    request_id: str
    timestamp: str


class ErrorBody(BaseModel):
    """What went wrong, in a stable code and a human message."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class Envelope(BaseModel, Generic[DataT]):
    """A successful answer."""

    success: Literal[True] = True
    data: DataT
    error: None = None
    meta: Meta


class ErrorEnvelope(BaseModel):
    """A failed answer."""

    success: Literal[False] = False
    data: None = None
    error: ErrorBody
    meta: Meta


def request_id_of(request: Request) -> str:
    """The id the request-id middleware gave this request."""
    return str(getattr(request.state, "request_id", "") or "")


def make_meta(request_id: str, **extra: Any) -> Meta:
    """Meta block stamped now; built without validation (the fields are ours and typed)."""
    return Meta.model_construct(
        request_id=request_id, timestamp=format_timestamp(utcnow()), **extra
    )


def ok(request: Request, data: DataT, **meta_extra: Any) -> Envelope[DataT]:
    """Wrap a route's result in the success envelope. Built without validation: the route's
    response model validates it once on the way out, and that check is the one we keep."""
    return Envelope[DataT].model_construct(
        success=True, data=data, error=None, meta=make_meta(request_id_of(request), **meta_extra)
    )


def error_response(request_id: str, error: ApiError) -> JSONResponse:
    """Render an `ApiError` as the error envelope with its HTTP status."""
    body = ErrorEnvelope(
        error=ErrorBody(code=error.code.name, message=error.message, details=error.details),
        meta=make_meta(request_id),
    )
    return JSONResponse(
        status_code=error.status,
        content=body.model_dump(mode="json", exclude_none=False),
        headers={"X-Request-ID": request_id},
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting the error envelope for these statuses."""
    return {code: {"model": ErrorEnvelope} for code in codes}
