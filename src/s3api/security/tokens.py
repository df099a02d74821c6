"""HS256 JWTs for users (API.md §8), through PyJWT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from s3api.errors import ApiError, ErrorCode
from s3api.timeutil import utcnow

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iat", "exp"]


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and verifies user tokens with one signing key."""

    secret: str
    ttl_seconds: int

    def issue(self, user_id: str) -> str:
        """A token for `user_id`, valid for the configured lifetime."""
        issued_at = utcnow()
        claims = {
            "sub": user_id,
            "iat": issued_at,
            "exp": issued_at + timedelta(seconds=self.ttl_seconds),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> str:
        """The user id of a valid token; `AUTH_EXPIRED_TOKEN` or `AUTH_INVALID_TOKEN` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise ApiError(ErrorCode.AUTH_EXPIRED_TOKEN) from exc
        except jwt.PyJWTError as exc:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
        return subject
