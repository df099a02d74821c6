"""HS256 JWTs for users (API.md §8), through PyJWT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import isfinite

import jwt

from s3api.errors import ApiError, ErrorCode
from s3api.timeutil import utcnow

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iat", "exp"]
# verified tokens remembered (subject and expiry), so a client's next request skips the HMAC
VERIFIED_CACHE_SIZE = 4096
# replicas' clocks differ by a second or two: time claims are judged this loosely by default
DEFAULT_LEEWAY_SECONDS = 5.0
# a later expiry (year 3000) is no real token's: refused rather than kept forever
_LATEST_EXPIRY = 32503680000.0


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and verifies user tokens with one signing key."""

    secret: str
    ttl_seconds: int
    now: Callable[[], datetime] = utcnow
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
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
        now = self.now().timestamp()
        remembered = self._verified.get(token)
        if remembered is not None:
            remembered_subject, expires_at = remembered
            if now < expires_at + self.leeway_seconds:
                return remembered_subject
            raise ApiError(ErrorCode.AUTH_EXPIRED_TOKEN)
        try:
            # the time claims are judged below, on this issuer's clock (PyJWT reads the system's)
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
        expires_at = _time_claim(claims, "exp")
        if _time_claim(claims, "iat") > now + self.leeway_seconds:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)  # issued in the future
        if "nbf" in claims and _time_claim(claims, "nbf") > now + self.leeway_seconds:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
        if now >= expires_at + self.leeway_seconds:
            raise ApiError(ErrorCode.AUTH_EXPIRED_TOKEN)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (subject, expires_at)
        return subject


def _time_claim(claims: dict[str, object], name: str) -> float:
    """A NumericDate claim as seconds, or `AUTH_INVALID_TOKEN`: not a number, not finite,
    or too large to be a real date (`10**400` would overflow a float)."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    if isinstance(value, int) and not -_LATEST_EXPIRY <= value <= _LATEST_EXPIRY:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    seconds = float(value)
    if not isfinite(seconds) or abs(seconds) > _LATEST_EXPIRY:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    return seconds
