"""The response envelope every answer uses, and its OpenAPI models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json

from s3api.errors import ApiError
from s3api.timeutil import timestamp_now

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
    return Meta.model_construct(request_id=request_id, timestamp=timestamp_now(), **extra)


class EnvelopeResponse(Response):
    """A success envelope, already encoded."""

    media_type = "application/json"


def ok(
    request: Request,
    data: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **meta_extra: Any,
) -> Response:
    """The success envelope around a route's result, encoded once by the result's own
    serializers (pydantic's), with no validation pass: the values come from our typed
    models. The route's `response_model` documents the shape; schema tests hold the
    answers to it. A route answering other than 200 passes its `status_code` here too (the
    decorator's only documents it once the route returns a response itself)."""
    meta = {"request_id": request_id_of(request), "timestamp": timestamp_now(), **meta_extra}
    return EnvelopeResponse(
        b"".join(
            (
                b'{"success":true,"data":',
                to_json(data, by_alias=True),
                b',"error":null,"meta":',
                to_json(meta, by_alias=True),
                b"}",
            )
        ),
        status_code=status_code,
        headers=headers,
    )


def encodable(value: Any) -> Any:
    """`value` with every string made encodable as UTF-8: a lone surrogate a client sent
    (JSON's `"\\ud800"`) becomes the text of its escape, so an answer quoting it still
    encodes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(item) for item in value]
    return value


def error_response(request_id: str, error: ApiError) -> JSONResponse:
    """Render an `ApiError` as the error envelope with its HTTP status; its details may
    quote client values, so they are made encodable first."""
    body = ErrorEnvelope(
        error=ErrorBody(
            code=error.code.name,
            message=encodable(error.message),
            details=encodable(error.details),
        ),
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
