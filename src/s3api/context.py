"""Everything a request or background task needs, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from s3api.coordinators.job_coordinator import JobCoordinator
from s3api.coordinators.user_limiter import UserLimiter
from s3api.db.engine import Database
from s3api.queue.repository import MessageQueue
from s3api.ratelimit.budget import RateLimits
from s3api.security.tokens import TokenIssuer
from s3api.settings import Settings
from s3api.storage.base import ObjectStorage
from s3api.storage.factory import build_storage


@dataclass
class AppContext:
    """The service's collaborators; `create_app` builds one and keeps it in `app.state`."""

    settings: Settings
    database: Database
    tokens: TokenIssuer
    storage: ObjectStorage
    limiter: UserLimiter
    queue: MessageQueue
    coordinator: JobCoordinator
    rate_limits: RateLimits

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        """Wire the collaborators for these (already prepared) settings."""
        database = Database(settings.resolved_database_url)
        limiter = UserLimiter(settings)
        queue = MessageQueue(database, settings)
        storage = build_storage(settings)
        return cls(
            settings=settings,
            database=database,
            tokens=TokenIssuer(settings.jwt_key, settings.jwt_ttl_seconds),
            storage=storage,
            limiter=limiter,
            queue=queue,
            coordinator=JobCoordinator(database, settings, limiter, queue),
            rate_limits=RateLimits(settings),
        )

    async def close(self) -> None:
        """Release pools and clients."""
        await self.storage.close()
        await self.rate_limits.close()
        await self.database.dispose()
