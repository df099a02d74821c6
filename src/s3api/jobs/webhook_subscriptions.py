"""Queries on `job_webhooks`: where a job's webhook goes and how its last delivery went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
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


# built once: the outbox looks the webhook up for every recorded job event
_WEBHOOKS = cast(Table, JobWebhook.__table__)
_INSERT_SUBSCRIPTION = insert(_WEBHOOKS)
_FIND_SUBSCRIPTION = select(_WEBHOOKS).where(_WEBHOOKS.c.job_id == bindparam("job_id"))
_MARK_PENDING = (
    update(_WEBHOOKS)
    .where(_WEBHOOKS.c.job_id == bindparam("target_job"))
    .values(last_status=DeliveryStatus.PENDING.value)
)
_RECORD_ATTEMPT = (
    update(_WEBHOOKS)
    .where(_WEBHOOKS.c.job_id == bindparam("target_job"))
    .values(
        last_status=bindparam("new_status"),
        last_response_code=bindparam("response_code"),
        last_error=bindparam("new_error"),
        last_attempt_at=bindparam("attempted_at"),
        attempts=_WEBHOOKS.c.attempts + 1,
    )
)


async def insert_subscription(
    connection: AsyncConnection, job_id: str, url: str, events: list[WebhookEvent]
) -> None:
    """The webhook of a new job."""
    await execute(
        connection,
        _INSERT_SUBSCRIPTION,
        {"job_id": job_id, "url": url, "events": [event.value for event in events], "attempts": 0},
    )


async def find_subscription(connection: AsyncConnection, job_id: str) -> WebhookSubscription | None:
    """The job's webhook, if it has one."""
    row = (await execute(connection, _FIND_SUBSCRIPTION, {"job_id": job_id})).first()
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
    await execute(connection, _MARK_PENDING, {"target_job": job_id})


async def record_attempt(
    connection: AsyncConnection,
    job_id: str,
    status: DeliveryStatus,
    response_code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    """The outcome of one delivery attempt."""
    await execute(
        connection,
        _RECORD_ATTEMPT,
        {
            "target_job": job_id,
            "new_status": status.value,
            "response_code": response_code,
            "new_error": None if error is None else error[:MAX_ERROR_LENGTH],
            "attempted_at": now,
        },
    )
