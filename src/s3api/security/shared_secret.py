"""The GPU side's shared secret, checked in constant time."""

from __future__ import annotations

import hmac

from s3api.errors import ApiError, ErrorCode


def presented_secret(x_callback_secret: str | None, authorization: str | None) -> str | None:
    """The secret from `X-Callback-Secret`, or else from `Authorization: Bearer …`."""
    if x_callback_secret:
        return x_callback_secret
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def require_shared_secret(expected: str, presented: str | None) -> None:
    """Raise `CALLBACK_UNAUTHORIZED` unless `presented` equals `expected`."""
    if presented is None or not hmac.compare_digest(
        presented.encode("utf-8"), expected.encode("utf-8")
    ):
        raise ApiError(ErrorCode.CALLBACK_UNAUTHORIZED)
