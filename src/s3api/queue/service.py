"""Queue use cases: leasing with fresh URLs, acks, retries and dead-lettering."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.context import AppContext
from s3api.jobs.messages import with_item_urls
from s3api.queue.repository import ExpiredLease, LeasedMessage
from s3api.queue.schemas import (
    AckResult,
    DeadLetterList,
    DeadLetterPublic,
    LeaseRetry,
    PulledMessage,
)

logger = logging.getLogger("s3api.queue")


async def lease_messages(
    context: AppContext, batch_size: int, visibility_timeout_seconds: int
) -> list[LeasedMessage]:
    """Lease visible messages in one transaction."""
    async with context.database.transaction() as connection:
        return await context.queue.lease(connection, batch_size, visibility_timeout_seconds)


async def pull_messages(
    context: AppContext, batch_size: int, visibility_timeout_seconds: int
) -> list[PulledMessage]:
    """Lease messages and give each item pre-signed URLs valid for at least the lease."""
    leased = await lease_messages(context, batch_size, visibility_timeout_seconds)
    expires_in = max(context.settings.presign_ttl_seconds, visibility_timeout_seconds)
    return [
        PulledMessage(
            id=message.id,
            lease_id=message.lease_id,
            attempts=message.attempts,
            timestamp_ms=message.timestamp_ms,
            body=await with_item_urls(context.storage, message.body, expires_in),
        )
        for message in leased
    ]


async def acknowledge(context: AppContext, lease_ids: list[str]) -> int:
    """Delete the messages of live leases; returns how many."""
    acked = 0
    async with context.database.transaction() as connection:
        for lease_id in lease_ids:
            acked += await context.queue.ack(connection, lease_id)
    return acked


async def retry(context: AppContext, retries: list[LeaseRetry]) -> int:
    """Redeliver after a delay, or dead-letter a message with no delivery left."""
    retried = 0
    for item in retries:
        async with context.database.transaction() as connection:
            message = await context.queue.find_live_lease(connection, item.lease_id)
            if message is None:
                continue
            retried += 1
            error = item.error or "retried by consumer"
            if message.attempts >= context.queue.max_deliveries:
                await _dead_letter(context, connection, message, error)
            else:
                await context.queue.release(connection, message.id, item.delay_seconds, error)
    return retried


async def acknowledge_and_retry(
    context: AppContext, ack_ids: list[str], retries: list[LeaseRetry]
) -> AckResult:
    """`POST /queues/gpu-jobs/ack`."""
    return AckResult(
        acked=await acknowledge(context, ack_ids), retried=await retry(context, retries)
    )


async def dead_letter_exhausted(context: AppContext, limit: int = 50) -> int:
    """Move messages whose last lease expired to the dead-letter table; fail their jobs."""
    async with context.database.transaction() as connection:
        expired = await context.queue.exhausted(connection, limit)
        for message in expired:
            reason = message.last_error or "lease expired"
            await _dead_letter(context, connection, message, reason)
    return len(expired)


async def _dead_letter(
    context: AppContext, connection: AsyncConnection, message: ExpiredLease, error: str
) -> None:
    await context.queue.move_to_dead_letters(connection, message, error)
    reason = f"dispatch gave up after {message.attempts} deliveries: {error}"
    failed = await context.coordinator.fail_job(connection, message.job_id, reason)
    logger.warning(
        "dead-lettered message=%s job=%s attempts=%d job_failed=%s",
        message.id,
        message.job_id,
        message.attempts,
        failed,
    )


async def list_dead_letters(context: AppContext, limit: int) -> DeadLetterList:
    """Dead-lettered messages, newest first."""
    async with context.database.read() as connection:
        records = await context.queue.dead_letters(connection, limit)
    return DeadLetterList(
        messages=[DeadLetterPublic.model_validate(r, from_attributes=True) for r in records]
    )
