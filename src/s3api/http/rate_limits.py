"""Rate-limit dependencies for the routes that mint accounts or write."""

from __future__ import annotations

from fastapi import Depends, Request

from s3api.http.deps import Context, CurrentUser


def client_address(request: Request) -> str:
    """The peer's address; `ProxyHeadersMiddleware` has already applied trusted proxies."""
    return request.client.host if request.client else "unknown"


async def limit_anonymous_signups(request: Request, context: Context) -> None:
    """`ANON_SIGNUP_RATE` per client IP: each sign-in can mint an account with credits."""
    await context.rate_limits.consume(
        context.rate_limits.signup_limits, "signup", client_address(request)
    )


async def limit_user_writes(context: Context, user: CurrentUser) -> None:
    """`USER_WRITE_RATE` per user, shared by job creates and rule writes."""
    await context.rate_limits.consume(context.rate_limits.write_limits, "write", user.id)


SignupRateLimit = Depends(limit_anonymous_signups)
UserWriteRateLimit = Depends(limit_user_writes)
