"""Rate-limit dependencies for the routes that mint accounts, write, or serve share pages."""

from __future__ import annotations

from fastapi import Depends, Request

from s3api.ratelimit.budget import RateLimits
from s3api.users.current import CurrentUser


def client_address(request: Request) -> str:
    """The peer's address; `ProxyHeadersMiddleware` has already applied trusted proxies."""
    return request.client.host if request.client else "unknown"


def _limits(request: Request) -> RateLimits:
    # read from the app state, not through a nested dependency: each level of dependency
    # costs FastAPI a resolution on every sign-in and write
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def limit_anonymous_signups(request: Request) -> None:
    """`ANON_SIGNUP_RATE` per client IP: each sign-in can mint an account with credits."""
    limits = _limits(request)
    await limits.consume(limits.signup_limits, "signup", client_address(request))


async def limit_user_writes(request: Request, user: CurrentUser) -> None:
    """`USER_WRITE_RATE` per user, shared by job creates and rule writes."""
    limits = _limits(request)
    await limits.consume(limits.write_limits, "write", user.id)


async def limit_share_views(request: Request) -> None:
    """`SHARE_VIEW_RATE` per client IP over the public share page and its images: the link
    is the only credential, so the budget keeps one client from draining the storage."""
    limits = _limits(request)
    await limits.consume(limits.share_view_limits, "share", client_address(request))


SignupRateLimit = Depends(limit_anonymous_signups)
UserWriteRateLimit = Depends(limit_user_writes)
