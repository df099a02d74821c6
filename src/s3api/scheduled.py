"""Background duties: dead-lettering expired leases, sweeping stale jobs, retention, and
removing what storage holds for no job (orphaned objects, abandoned upload files).

Each pass is a set of short transactions with row locks and guarded updates, so any number
of server processes can run them against one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from s3api.db.readiness import is_unreachable_error, unreachable_message
from s3api.delivery.service import DeliveryService
from s3api.jobs.lifecycle import JobLifecycle
from s3api.jobs.retention import JobRetention, OrphanedObjectSweep
from s3api.storage.partials import StalePartialSweep

logger = logging.getLogger("s3api.scheduled")


class PassCounts(NamedTuple):
    """What one background pass did."""

    dead_lettered: int
    swept: int
    expired: int
    orphans_removed: int = 0
    partials_removed: int = 0


class BackgroundDuties:
    """The periodic work of a server: what it needs, and nothing more."""

    def __init__(
        self,
        delivery: DeliveryService,
        lifecycle: JobLifecycle,
        retention: JobRetention,
        interval_seconds: float,
        orphans: OrphanedObjectSweep | None = None,
        partials: StalePartialSweep | None = None,
    ) -> None:
        self.delivery = delivery
        self.lifecycle = lifecycle
        self.retention = retention
        self.interval_seconds = interval_seconds
        # each only where the store has that kind of leftover: S3 orphans, local partials
        self.orphans = orphans
        self.partials = partials

    async def run_pass(self) -> PassCounts:
        """One pass of every duty; returns how much each did."""
        counts = PassCounts(
            dead_lettered=await self.delivery.dead_letter_exhausted(),
            swept=await self.lifecycle.sweep_stale_jobs(),
            expired=await self.retention.expire_old_jobs(),
            orphans_removed=(
                0 if self.orphans is None else await self.orphans.remove_orphaned_objects()
            ),
            partials_removed=(
                0 if self.partials is None else await self.partials.remove_stale_partials()
            ),
        )
        await self.lifecycle.forget_expired_idempotency_keys()
        if any(counts):
            logger.info(
                "background pass: %s",
                " ".join(f"{name}={value}" for name, value in counts._asdict().items()),
            )
        return counts

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
