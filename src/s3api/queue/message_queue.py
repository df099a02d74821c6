"""A durable message queue on two tables, `queue_messages` and `dead_letters`.

It knows messages, leases, retries and dead letters, and nothing about what the messages
mean: each carries a `subject_id` (one live message per subject and queue) and a JSON body.
Every method runs inside the caller's transaction, so a message is written atomically with
the change it announces (the outbox pattern).

A message is visible when `available_at <= now`; a lease pushes `available_at` to the
lease's end, so an unacknowledged message becomes visible again by itself. A lease is one
statement: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING …` on
PostgreSQL, where concurrent consumers never take the same message; SQLite serialises
writers, which gives the same result with the same statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, delete, func, insert, literal_column, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import DeadLetter, QueueMessage
from s3api.ids import is_uuid, new_id
from s3api.timeutil import now_ms, utcnow

MAX_ERROR_LENGTH = 500

# A random version-4 UUID per row, built from SQLite's own randomness.
_SQLITE_RANDOM_UUID = (
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || "
    "'-' || lower(hex(randomblob(6)))"
)


@dataclass(frozen=True)
class LeasedMessage:
    """A message handed to one consumer until `lease_expires_at_ms`."""

    id: str
    subject_id: str
    lease_id: str
    attempts: int
    timestamp_ms: int
    lease_expires_at_ms: int
    body: dict[str, Any]


@dataclass(frozen=True)
class HeldMessage:
    """A message under a live lease, as a retry sees it."""

    id: str
    subject_id: str
    attempts: int
    body: dict[str, Any]
    last_error: str | None


@dataclass(frozen=True)
class DeadMessage:
    """A message just moved to the dead letters: its subject is for the caller to act on."""

    id: str
    subject_id: str
    attempts: int
    body: dict[str, Any]
    error: str


@dataclass(frozen=True)
class RetryOutcome:
    """What a consumer's retry did: released for another delivery, or dead-lettered."""

    retried: bool
    dead: DeadMessage | None = None


@dataclass(frozen=True)
class DeadLetterRecord:
    """A dead-lettered message as operators see it."""

    id: str
    subject_id: str
    attempts: int
    last_error: str | None
    created_at: datetime
    body: dict[str, Any]


class MessageQueue:
    """One named queue with at most `max_deliveries` deliveries per message."""

    def __init__(
        self, name: str, max_deliveries: int, clock_ms: Callable[[], int] = now_ms
    ) -> None:
        self.name = name
        self.max_deliveries = max_deliveries
        # replaceable so tests can move time forward instead of sleeping
        self.clock_ms = clock_ms

    async def enqueue(
        self, connection: AsyncConnection, subject_id: str, body: dict[str, Any]
    ) -> str:
        """Write a message in the caller's transaction; visible at once."""
        message_id = new_id()
        now = self.clock_ms()
        await connection.execute(
            insert(QueueMessage).values(
                id=message_id,
                queue=self.name,
                subject_id=subject_id,
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
        """Lease up to `batch_size` visible messages with deliveries left, oldest first."""
        now = self.clock_ms()
        expires = now + visibility_timeout_seconds * 1000
        candidates = (
            select(QueueMessage.id)
            .where(
                QueueMessage.queue == self.name,
                QueueMessage.available_at <= now,
                QueueMessage.attempts < self.max_deliveries,
            )
            .order_by(QueueMessage.available_at, QueueMessage.created_at_ms)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        statement = (
            sql_update(QueueMessage)
            .where(QueueMessage.id.in_(candidates.scalar_subquery()))
            .values(
                lease_id=_random_uuid(connection),
                attempts=QueueMessage.attempts + 1,
                available_at=expires,
            )
            .returning(
                QueueMessage.id,
                QueueMessage.subject_id,
                QueueMessage.lease_id,
                QueueMessage.attempts,
                QueueMessage.created_at_ms,
                QueueMessage.body,
            )
        )
        rows = (await connection.execute(statement)).all()
        leased = [
            LeasedMessage(
                id=row.id,
                subject_id=row.subject_id,
                lease_id=row.lease_id,
                attempts=row.attempts,
                timestamp_ms=row.created_at_ms,
                lease_expires_at_ms=expires,
                body=row.body,
            )
            for row in rows
        ]
        return sorted(leased, key=lambda message: (message.timestamp_ms, message.id))

    async def delete(self, connection: AsyncConnection, message_ids: Sequence[str]) -> int:
        """Drop messages the consumer side has no use for any more; returns how many."""
        if not message_ids:
            return 0
        result = await connection.execute(
            delete(QueueMessage).where(QueueMessage.id.in_(list(message_ids)))
        )
        return int(result.rowcount)

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

    async def find_held(self, connection: AsyncConnection, lease_id: str) -> HeldMessage | None:
        """The message under a live lease, locked, or None when the lease is gone."""
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
        return HeldMessage(row.id, row.subject_id, row.attempts, row.body, row.last_error)

    async def retry(
        self, connection: AsyncConnection, lease_id: str, delay_seconds: float, error: str
    ) -> RetryOutcome:
        """Deliver a leased message again after a delay, or dead-letter it when none is left."""
        held = await self.find_held(connection, lease_id)
        if held is None:
            return RetryOutcome(retried=False)
        if held.attempts >= self.max_deliveries:
            return RetryOutcome(retried=True, dead=await self._dead_letter(connection, held, error))
        await connection.execute(
            sql_update(QueueMessage)
            .where(QueueMessage.id == held.id)
            .values(
                lease_id=None,
                available_at=self.clock_ms() + int(delay_seconds * 1000),
                last_error=error[:MAX_ERROR_LENGTH],
            )
        )
        return RetryOutcome(retried=True)

    async def dead_letter_exhausted(
        self, connection: AsyncConnection, limit: int
    ) -> list[DeadMessage]:
        """Move messages whose last lease ran out to the dead letters; returns them."""
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
        dead = []
        for row in rows:
            held = HeldMessage(row.id, row.subject_id, row.attempts, row.body, row.last_error)
            dead.append(
                await self._dead_letter(connection, held, row.last_error or "lease expired")
            )
        return dead

    async def _dead_letter(
        self, connection: AsyncConnection, held: HeldMessage, error: str
    ) -> DeadMessage:
        """Replace the message by a dead-letter row kept for operators."""
        await connection.execute(
            insert(DeadLetter).values(
                id=held.id,
                queue=self.name,
                subject_id=held.subject_id,
                body=held.body,
                attempts=held.attempts,
                last_error=error[:MAX_ERROR_LENGTH],
                created_at=utcnow(),
            )
        )
        await connection.execute(delete(QueueMessage).where(QueueMessage.id == held.id))
        return DeadMessage(held.id, held.subject_id, held.attempts, held.body, error)

    async def dead_letters(self, connection: AsyncConnection, limit: int) -> list[DeadLetterRecord]:
        """Dead-lettered messages, newest first."""
        rows = await connection.execute(
            select(DeadLetter.__table__)
            .where(DeadLetter.queue == self.name)
            .order_by(DeadLetter.created_at.desc(), DeadLetter.id)
            .limit(limit)
        )
        return [
            DeadLetterRecord(r.id, r.subject_id, r.attempts, r.last_error, r.created_at, r.body)
            for r in rows
        ]


def _random_uuid(connection: AsyncConnection) -> ColumnElement[str]:
    """A fresh UUID per updated row, generated by the database itself."""
    if connection.dialect.name == "postgresql":
        return cast(func.gen_random_uuid(), String)
    return literal_column(_SQLITE_RANDOM_UUID, String)
