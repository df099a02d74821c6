"""Moving-window budgets (`limits`): sign-ups and share page views per client IP, writes per
user.

The budgets live in process memory by default, or in Redis when `RATE_LIMIT_STORAGE_URL`
points there, so that several replicas share one budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextlib import suppress
from typing import Any

import coredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from s3api.errors import ApiError, ErrorCode
from s3api.settings import Settings

logger = logging.getLogger("s3api.rate_limits")


def async_storage_url(url: str) -> str:
    """The `limits.aio` form (`async+redis://…`) of a configured storage URL."""
    return url if url.startswith("async+") else f"async+{url}"


class RateLimits:
    """Moving-window budgets keyed by a scope (`signup`, `write`, `share`) and an identity."""

    def __init__(self, settings: Settings) -> None:
        url = settings.rate_limit_storage_url
        self._redis_pool: coredis.ConnectionPool | None = None
        self.storage: MemoryStorage | RedisStorage
        if url.startswith("memory"):
            self.storage = MemoryStorage(wrap_exceptions=True)
        else:
            # our own pool, so that `close()` can release its connections
            self._redis_pool = coredis.ConnectionPool.from_url(url)
            pool: Any = self._redis_pool  # limits types its pass-through options narrowly
            self.storage = RedisStorage(
                async_storage_url(url),
                wrap_exceptions=True,
                key_prefix=settings.rate_limit_key_prefix,
                connection_pool=pool,
            )
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.signup_limits = parse_many(settings.anon_signup_rate)
        self.write_limits = parse_many(settings.user_write_rate)
        self.share_view_limits = parse_many(settings.share_view_rate)

    async def consume(self, items: list[RateLimitItem], scope: str, identity: str) -> None:
        """Take one unit of every budget, or raise `RATE_LIMITED` with the wait in seconds."""
        try:
            for item in items:
                if not await self.strategy.hit(item, scope, identity):
                    stats = await self.strategy.get_window_stats(item, scope, identity)
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    raise ApiError(
                        ErrorCode.RATE_LIMITED,
                        details={"limit": str(item), "retry_after_seconds": retry_after},
                        headers={"Retry-After": str(retry_after)},
                    )
        except StorageError as exc:
            logger.error(
                "rate limit storage unavailable error=%s", type(exc.storage_error).__name__
            )
            raise ApiError(ErrorCode.UNAVAILABLE) from exc

    async def close(self) -> None:
        """Stop the memory store's expiry task and drop Redis connections."""
        if isinstance(self.storage, MemoryStorage):
            timer = self.storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
                with suppress(asyncio.CancelledError):
                    await timer
        if self._redis_pool is not None:
            self._redis_pool.disconnect()
