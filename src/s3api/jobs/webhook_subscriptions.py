"""Queries on `job_webhooks`: where a job's webhook goes and how its last delivery went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import JobWebhook

MAX_ERROR_LENGTH = 500


class WebhookEvent(StrEnum):
    """What a job's webhook can be told."""

    JOB_COMPLETED = "job.completed"  # once, when the job is done, failed or canceled
    ITEM_COMPLETED = "item.completed"  # each item result


class DeliveryStatus(StrEnum):
    """The last known state of a job's webhook deliveries."""

    PENDING = "pending"  # queued, not attempted yet
    DELIVERED = "delivered"  # the receiver answered 2xx
    RETRYING = "retrying"  # the last attempt failed; another is scheduled
    DEAD = "dead"  # no attempt left; dead-lettered


@dataclass(frozen=True)
class WebhookSubscription:
    """A job's webhook with its last delivery."""

    job_id: str
    url: str
    events: list[WebhookEvent]
    last_status: DeliveryStatus | None
    last_attempt_at: datetime | None
    last_response_code: int | None
    last_error: str | None
    attempts: int


async def insert_subscription(
    connection: AsyncConnection, job_id: str, url: str, events: list[WebhookEvent]
) -> None:
    """The webhook of a new job."""
    await connection.execute(
        insert(JobWebhook).values(
            job_id=job_id, url=url, events=[event.value for event in events], attempts=0
        )
    )


async def find_subscription(connection: AsyncConnection, job_id: str) -> WebhookSubscription | None:
    """The job's webhook, if it has one."""
    row = (
        await connection.execute(select(JobWebhook.__table__).where(JobWebhook.job_id == job_id))
    ).first()
    if row is None:
        return None
    return WebhookSubscription(
        job_id=row.job_id,
        url=row.url,
        events=[WebhookEvent(event) for event in row.events],
        last_status=None if row.last_status is None else DeliveryStatus(row.last_status),
        last_attempt_at=row.last_attempt_at,
        last_response_code=row.last_response_code,
        last_error=row.last_error,
        attempts=row.attempts,
    )


async def mark_pending(connection: AsyncConnection, job_id: str) -> None:
    """A delivery was queued."""
    await connection.execute(
        update(JobWebhook)
        .where(JobWebhook.job_id == job_id)
        .values(last_status=DeliveryStatus.PENDING.value)
    )


async def record_attempt(
    connection: AsyncConnection,
    job_id: str,
    status: DeliveryStatus,
    response_code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    """The outcome of one delivery attempt."""
    await connection.execute(
        update(JobWebhook)
        .where(JobWebhook.job_id == job_id)
        .values(
            last_status=status.value,
            last_response_code=response_code,
            last_error=None if error is None else error[:MAX_ERROR_LENGTH],
            last_attempt_at=now,
            attempts=JobWebhook.attempts + 1,
        )
    )
