"""Rules every JSON request body must satisfy before any route parses it."""

from __future__ import annotations

import re

from s3api.errors import ApiError, ErrorCode

# a JSON `\u0000` escape (not an escaped backslash followed by "u0000")
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def refuse_nul_characters(body: bytes) -> None:
    """PostgreSQL text cannot hold NUL, so it is refused for every field in one place."""
    if _ESCAPED_NUL.search(body):
        raise ApiError(ErrorCode.VALIDATION_FAILED, "NUL characters are not allowed")
