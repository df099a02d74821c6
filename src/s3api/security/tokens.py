"""HS256 JWTs for users (API.md §8), through PyJWT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt

from s3api.errors import ApiError, ErrorCode
from s3api.timeutil import utcnow

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iat", "exp"]
# verified tokens remembered (subject and expiry), so a client's next request skips the HMAC
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and verifies user tokens with one signing key."""

    secret: str
    ttl_seconds: int
    now: Callable[[], datetime] = utcnow
    _verified: dict[str, tuple[str, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def issue(self, user_id: str) -> str:
        """A token for `user_id`, valid for the configured lifetime."""
        issued_at = self.now()
        claims = {
            "sub": user_id,
            "iat": issued_at,
            "exp": issued_at + timedelta(seconds=self.ttl_seconds),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> str:
        """The user id of a valid token; `AUTH_EXPIRED_TOKEN` or `AUTH_INVALID_TOKEN` otherwise.

        A token verified before is answered from memory until its own expiry; the signature
        is a function of the token's text, so the same text stays valid."""
        remembered = self._verified.get(token)
        if remembered is not None:
            remembered_subject, expires_at = remembered
            if self.now().timestamp() < expires_at:
                return remembered_subject
            raise ApiError(ErrorCode.AUTH_EXPIRED_TOKEN)
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
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (subject, float(claims["exp"]))
        return subject
