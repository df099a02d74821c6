"""Background duties: dead-lettering expired leases and sweeping stale jobs.

Each pass is a set of short transactions with row locks and guarded updates, so any number
of server processes can run them against one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import logging

from s3api.context import AppContext
from s3api.db.readiness import is_unreachable_error, unreachable_message
from s3api.queue import service as queue_service

logger = logging.getLogger("s3api.scheduled")


async def run_background_pass(context: AppContext) -> tuple[int, int]:
    """One pass: returns (messages dead-lettered, stale jobs swept)."""
    dead_lettered = await queue_service.dead_letter_exhausted(context)
    swept = await context.coordinator.sweep_stale_jobs()
    if dead_lettered or swept:
        logger.info("background pass: dead_lettered=%d swept=%d", dead_lettered, swept)
    return dead_lettered, swept


async def run_background_forever(context: AppContext, stop: asyncio.Event) -> None:
    """Repeat passes until `stop` is set; a failing pass is logged and retried next time."""
    interval = context.settings.background_interval_seconds
    while not stop.is_set():
        try:
            await run_background_pass(context)
        except Exception as exc:
            if not is_unreachable_error(exc):
                logger.exception("background pass failed")
            else:  # one line per pass, not a traceback every interval
                message = unreachable_message(context.database.url, exc)
                logger.warning("background pass skipped: %s", message)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue
