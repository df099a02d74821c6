"""Rate-limit dependencies for the routes that mint accounts or write."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from s3api.http.deps import service_dependency
from s3api.ratelimit.budget import RateLimits
from s3api.users.current import CurrentUser

Limits = Annotated[RateLimits, service_dependency("rate_limits", RateLimits)]


def client_address(request: Request) -> str:
    """The peer's address; `ProxyHeadersMiddleware` has already applied trusted proxies."""
    return request.client.host if request.client else "unknown"


async def limit_anonymous_signups(request: Request, limits: Limits) -> None:
    """`ANON_SIGNUP_RATE` per client IP: each sign-in can mint an account with credits."""
    await limits.consume(limits.signup_limits, "signup", client_address(request))


async def limit_user_writes(limits: Limits, user: CurrentUser) -> None:
    """`USER_WRITE_RATE` per user, shared by job creates and rule writes."""
    await limits.consume(limits.write_limits, "write", user.id)


SignupRateLimit = Depends(limit_anonymous_signups)
UserWriteRateLimit = Depends(limit_user_writes)
