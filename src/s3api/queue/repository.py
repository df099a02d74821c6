"""Queue primitives on `queue_messages` / `dead_letters`, each inside the caller's transaction.

Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL so several consumers never take the
same message; SQLite serialises writers with `BEGIN IMMEDIATE`, which gives the same result.
A message is visible when `available_at <= now`; a lease pushes `available_at` to the lease's
end, so an unacknowledged message becomes visible again by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.db.models import DeadLetter, JobLog, QueueMessage
from s3api.ids import is_uuid, new_id
from s3api.jobs.states import TERMINAL
from s3api.settings import Settings
from s3api.timeutil import now_ms, utcnow

GPU_JOBS = "gpu-jobs"


@dataclass(frozen=True)
class LeasedMessage:
    """A message handed to one consumer until `lease_expires_at_ms`."""

    id: str
    job_id: str
    lease_id: str
    attempts: int
    timestamp_ms: int
    lease_expires_at_ms: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ExpiredLease:
    """A message whose lease ran out and which has no delivery left."""

    id: str
    job_id: str
    attempts: int
    body: dict[str, Any]
    last_error: str | None


@dataclass(frozen=True)
class DeadLetterRecord:
    """A dead-lettered message as operators see it."""

    id: str
    job_id: str
    attempts: int
    last_error: str | None
    created_at: datetime
    body: dict[str, Any]


class MessageQueue:
    """One named queue with at most `1 + max_retries` deliveries per message."""

    def __init__(self, database: Database, settings: Settings, name: str = GPU_JOBS) -> None:
        self.database = database
        self.name = name
        self.max_deliveries = 1 + settings.queue_max_retries
        # replaceable so tests can move time forward instead of sleeping
        self.clock_ms: Callable[[], int] = now_ms

    async def enqueue(self, connection: AsyncConnection, job_id: str, body: dict[str, Any]) -> str:
        """Write a message in the caller's transaction (the outbox of `uploaded → queued`)."""
        message_id = new_id()
        now = self.clock_ms()
        await connection.execute(
            insert(QueueMessage).values(
                id=message_id,
                queue=self.name,
                job_id=job_id,
                body=body,
                attempts=0,
                available_at=now,
                lease_id=None,
                last_error=None,
                created_at_ms=now,
            )
        )
        return message_id

    async def lease(
        self, connection: AsyncConnection, batch_size: int, visibility_timeout_seconds: int
    ) -> list[LeasedMessage]:
        """Lease up to `batch_size` visible messages; messages of terminal jobs are dropped.

        Only rows this call will lease or drop are locked, so concurrent consumers skip
        nothing they could have taken.
        """
        now = self.clock_ms()
        expires = now + visibility_timeout_seconds * 1000
        leased: list[LeasedMessage] = []
        while len(leased) < batch_size:
            rows = (await connection.execute(self._visible(now, batch_size - len(leased)))).all()
            if not rows:
                break
            for row in rows:
                if row.status is None or row.status in TERMINAL:
                    await connection.execute(delete(QueueMessage).where(QueueMessage.id == row.id))
                    continue
                lease_id = new_id()
                await connection.execute(
                    update(QueueMessage)
                    .where(QueueMessage.id == row.id)
                    .values(lease_id=lease_id, attempts=row.attempts + 1, available_at=expires)
                )
                leased.append(
                    LeasedMessage(
                        id=row.id,
                        job_id=row.job_id,
                        lease_id=lease_id,
                        attempts=row.attempts + 1,
                        timestamp_ms=row.created_at_ms,
                        lease_expires_at_ms=expires,
                        body=row.body,
                    )
                )
        return leased

    def _visible(self, now: int, limit: int) -> Select[Any]:
        """Visible messages with deliveries left, oldest first, locked and skipping locked."""
        return (
            select(
                QueueMessage.id,
                QueueMessage.job_id,
                QueueMessage.attempts,
                QueueMessage.created_at_ms,
                QueueMessage.body,
                JobLog.status,
            )
            .join(JobLog, JobLog.id == QueueMessage.job_id, isouter=True)
            .where(
                QueueMessage.queue == self.name,
                QueueMessage.available_at <= now,
                QueueMessage.attempts < self.max_deliveries,
            )
            .order_by(QueueMessage.available_at, QueueMessage.created_at_ms)
            .limit(limit)
            .with_for_update(skip_locked=True, of=QueueMessage)
        )

    async def ack(self, connection: AsyncConnection, lease_id: str) -> bool:
        """Delete the message of a live lease; an expired or unknown lease is ignored."""
        if not is_uuid(lease_id):
            return False
        result = await connection.execute(
            delete(QueueMessage).where(
                QueueMessage.lease_id == lease_id, QueueMessage.available_at > self.clock_ms()
            )
        )
        return result.rowcount == 1

    async def find_live_lease(
        self, connection: AsyncConnection, lease_id: str
    ) -> ExpiredLease | None:
        """The message held by a live lease, locked, or None when the lease is gone."""
        if not is_uuid(lease_id):
            return None
        row = (
            await connection.execute(
                select(QueueMessage.__table__)
                .where(
                    QueueMessage.lease_id == lease_id, QueueMessage.available_at > self.clock_ms()
                )
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return ExpiredLease(row.id, row.job_id, row.attempts, row.body, row.last_error)

    async def release(
        self, connection: AsyncConnection, message_id: str, delay_seconds: float, error: str | None
    ) -> None:
        """Make a leased message visible again after `delay_seconds`."""
        values: dict[str, Any] = {
            "lease_id": None,
            "available_at": self.clock_ms() + int(delay_seconds * 1000),
        }
        if error:
            values["last_error"] = error[:500]
        await connection.execute(
            update(QueueMessage).where(QueueMessage.id == message_id).values(**values)
        )

    async def exhausted(self, connection: AsyncConnection, limit: int) -> list[ExpiredLease]:
        """Locked messages whose last lease ran out: they go to the dead-letter table."""
        rows = (
            await connection.execute(
                select(QueueMessage.__table__)
                .where(
                    QueueMessage.queue == self.name,
                    QueueMessage.available_at <= self.clock_ms(),
                    QueueMessage.attempts >= self.max_deliveries,
                )
                .order_by(QueueMessage.available_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [ExpiredLease(r.id, r.job_id, r.attempts, r.body, r.last_error) for r in rows]

    async def move_to_dead_letters(
        self, connection: AsyncConnection, message: ExpiredLease, error: str
    ) -> None:
        """Replace the message by a dead-letter row kept for operators."""
        await connection.execute(
            insert(DeadLetter).values(
                id=message.id,
                queue=self.name,
                job_id=message.job_id,
                body=message.body,
                attempts=message.attempts,
                last_error=error[:500],
                created_at=utcnow(),
            )
        )
        await connection.execute(delete(QueueMessage).where(QueueMessage.id == message.id))

    async def dead_letters(self, connection: AsyncConnection, limit: int) -> list[DeadLetterRecord]:
        """Dead-lettered messages, newest first."""
        rows = await connection.execute(
            select(DeadLetter.__table__)
            .where(DeadLetter.queue == self.name)
            .order_by(DeadLetter.created_at.desc(), DeadLetter.id)
            .limit(limit)
        )
        return [
            DeadLetterRecord(r.id, r.job_id, r.attempts, r.last_error, r.created_at, r.body)
            for r in rows
        ]
