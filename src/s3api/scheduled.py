"""Background duties: dead-lettering expired leases, sweeping stale jobs, retention.

Each pass is a set of short transactions with row locks and guarded updates, so any number
of server processes can run them against one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import logging

from s3api.db.readiness import is_unreachable_error, unreachable_message
from s3api.delivery.service import DeliveryService
from s3api.jobs.lifecycle import JobLifecycle
from s3api.jobs.retention import JobRetention

logger = logging.getLogger("s3api.scheduled")


class BackgroundDuties:
    """The periodic work of a server: what it needs, and nothing more."""

    def __init__(
        self,
        delivery: DeliveryService,
        lifecycle: JobLifecycle,
        retention: JobRetention,
        interval_seconds: float,
    ) -> None:
        self.delivery = delivery
        self.lifecycle = lifecycle
        self.retention = retention
        self.interval_seconds = interval_seconds

    async def run_pass(self) -> tuple[int, int, int]:
        """One pass: returns (messages dead-lettered, stale jobs swept, jobs expired)."""
        dead_lettered = await self.delivery.dead_letter_exhausted()
        swept = await self.lifecycle.sweep_stale_jobs()
        expired = await self.retention.expire_old_jobs()
        await self.lifecycle.forget_expired_idempotency_keys()
        if dead_lettered or swept or expired:
            logger.info(
                "background pass: dead_lettered=%d swept=%d expired=%d",
                dead_lettered,
                swept,
                expired,
            )
        return dead_lettered, swept, expired

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Repeat passes until `stop` is set; a failing pass is logged and retried next time."""
        while not stop.is_set():
            try:
                await self.run_pass()
            except Exception as exc:
                if not is_unreachable_error(exc):
                    logger.exception("background pass failed")
                else:  # one line per pass, not a traceback every interval
                    message = unreachable_message(self.delivery.database.url, exc)
                    logger.warning("background pass skipped: %s", message)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
            except TimeoutError:
                continue
