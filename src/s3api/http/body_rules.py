"""Rules every JSON request body must satisfy before any route parses it."""

from __future__ import annotations

import json
import re

from s3api.errors import ApiError, ErrorCode

# a body that may hold a JSON `\u0000` escape: only then is it parsed here
_MAY_ESCAPE_NUL = re.compile(rb"\\u0000", re.IGNORECASE)
NOT_UTF8_MESSAGE = "The request body must be JSON encoded as UTF-8"
NUL_MESSAGE = "NUL characters are not allowed"


def _refused(message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        message,
        {"fields": [{"field": "body", "message": message}]},
    )


def refuse_non_utf8(body: bytes) -> None:
    """RFC 8259 (§8.1) JSON is UTF-8; the JSON parser would also read UTF-16 and UTF-32,
    past the NUL rule's reach. A raw NUL byte is never valid in UTF-8 JSON, and every
    UTF-16 or UTF-32 JSON text has one among its first four bytes."""
    if b"\x00" in body:
        raise _refused(NOT_UTF8_MESSAGE)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refused(NOT_UTF8_MESSAGE) from exc


def refuse_nul_characters(body: bytes) -> None:
    """PostgreSQL text cannot hold NUL, so it is refused for every string, keys included,
    in one place. Decided on the parsed value: the pattern only spares the parse for the
    bodies (nearly all) that hold no `\\u0000` at all."""
    if not _MAY_ESCAPE_NUL.search(body):
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        return  # malformed: the route's parser answers that
    if _holds_nul(parsed):
        raise _refused(NUL_MESSAGE)


def _holds_nul(value: object) -> bool:
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False
