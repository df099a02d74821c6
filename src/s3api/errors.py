"""The error catalogue: one enum of codes and one exception type that carries them."""

from __future__ import annotations

from enum import Enum
from typing import Any

from s3api.common.limits import MAX_ITEMS_PER_JOB


class ErrorCode(Enum):
    """Every error code the API can answer with, with its HTTP status and default message."""

    VALIDATION_FAILED = (400, "Request validation failed")
    INVALID_PRESET = (400, "Unknown preset")
    INVALID_ITEM_COUNT = (400, f"item_count must be an integer between 1 and {MAX_ITEMS_PER_JOB}")
    AUTH_REQUIRED = (401, "Authorization: Bearer <token> is required")
    AUTH_INVALID_TOKEN = (401, "Invalid token")
    AUTH_EXPIRED_TOKEN = (401, "Token has expired")
    CALLBACK_UNAUTHORIZED = (401, "Missing or wrong callback secret")
    INSUFFICIENT_CREDITS = (402, "Not enough credits")
    RULE_SLOT_LIMIT = (403, "No free rule slot")
    ITEM_LIMIT = (403, "Too many items for your plan")
    TEMPLATE_NOT_IN_PLAN = (403, "Your plan does not include this output template")
    ANALYSIS_CONCEPT_LIMIT = (403, "Too many distinct concepts analysed for this job")
    FORBIDDEN = (403, "Signature is invalid or has expired")
    NOT_FOUND = (404, "Not found")
    RULE_NOT_FOUND = (404, "Rule not found")
    JOB_NOT_FOUND = (404, "Job not found")
    METHOD_NOT_ALLOWED = (405, "Method not allowed")
    JOB_INVALID_TRANSITION = (409, "The job's state does not allow this action")
    UPLOAD_INCOMPLETE = (409, "Some inputs are missing or invalid")
    ANALYSIS_IN_PROGRESS = (409, "An analysis of this job is in progress")
    INPUTS_EXPIRED = (410, "The job's inputs were removed by retention")
    PAYLOAD_TOO_LARGE = (413, "Request body is too large")
    IDEMPOTENCY_KEY_REUSED = (422, "This Idempotency-Key was used with another request")
    CONCURRENCY_LIMIT = (429, "All concurrent job slots are in use")
    RATE_LIMITED = (429, "Too many requests: retry after the time in Retry-After")
    TOO_MANY_STREAMS = (429, "Too many open event streams")
    INTERNAL_ERROR = (500, "Internal server error")
    UNAVAILABLE = (503, "Service temporarily unavailable")

    @property
    def status(self) -> int:
        """HTTP status answered with this code."""
        return self.value[0]

    @property
    def default_message(self) -> str:
        """Human-readable message used when none is given."""
        return self.value[1]


class ApiError(Exception):
    """A domain error that the handlers turn into the error envelope."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or code.default_message
        self.details = (
            with_field_list(self.message, details)
            if code is ErrorCode.VALIDATION_FAILED
            else details
        )
        self.status = status or code.status
        self.headers = headers
        super().__init__(f"{code.name}: {self.message}")


def with_field_list(message: str, details: dict[str, Any] | None) -> dict[str, Any]:
    """Validation details in their one shape: `fields`, a list of `{field, message}`, always
    there, with any other keys beside it. A lone `field` (or none, for the body as a whole)
    becomes the list's one entry, carrying the error's message."""
    if details is not None and "fields" in details:
        return details
    rest = dict(details or {})
    field = rest.pop("field", "body")
    return {"fields": [{"field": field, "message": message}], **rest}


def payload_too_large(limit_bytes: int) -> ApiError:
    """`PAYLOAD_TOO_LARGE` saying the limit, in bytes and MiB, in the message and details."""
    mebibytes = limit_bytes / (1024 * 1024)
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"Request body is too large: the limit is {limit_bytes} bytes ({mebibytes:g} MiB)",
        {"limit_bytes": limit_bytes, "limit_mib": round(mebibytes, 3)},
    )
