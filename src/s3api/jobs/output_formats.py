"""The `output_format` of execute and re-run, checked before anything is written."""

from __future__ import annotations

from s3api.common.output_formats import OutputFormat
from s3api.errors import ApiError, ErrorCode

ALLOWED_OUTPUT_FORMATS = [output_format.value for output_format in OutputFormat]


def checked_output_format(value: object) -> OutputFormat:
    """The requested format; `png` when absent, 400 `VALIDATION_FAILED` for any other value."""
    if value is None:
        return OutputFormat.PNG
    if isinstance(value, str) and value in ALLOWED_OUTPUT_FORMATS:
        return OutputFormat(value)
    raise ApiError(
        ErrorCode.VALIDATION_FAILED,
        f"output_format must be one of {ALLOWED_OUTPUT_FORMATS}",
        {"field": "output_format", "allowed": ALLOWED_OUTPUT_FORMATS},
    )
