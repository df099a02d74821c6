"""The job event log: what a live stream replays, written with the change it records.

Every row is appended in the transaction of the state change that causes it, under the job's
row lock, so `seq` grows by one per job without gaps or races, an event exists if and only if
its change committed, and a reader resuming after `seq = n` misses and repeats nothing.
Subscribers (webhooks) see the same events in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import JobEvent, JobItem
from s3api.jobs import repository
from s3api.jobs.repository import JobRecord
from s3api.jobs.states import TERMINAL
from s3api.notify.changes import ChangeNotifier
from s3api.timeutil import utcnow


class EventKind(StrEnum):
    """What a stored event says; `snapshot` is never stored, it is read when a stream opens."""

    ITEM = "item"  # one item got its result: {idx, status, error}
    STATUS = "status"  # the job changed state: {status, progress}
    END = "end"  # the job is terminal: {status}; the stream closes after it


@dataclass(frozen=True)
class RecordedEvent:
    """One row of `job_events`."""

    seq: int
    kind: EventKind
    data: dict[str, Any]


class EventSubscriber(Protocol):
    """Told of new events inside the transaction that records them."""

    async def job_events_recorded(
        self, connection: AsyncConnection, job: JobRecord, events: Sequence[RecordedEvent]
    ) -> None:
        """React to `events` of `job` atomically with them."""


class JobEventLog:
    """Appends events for a job change and wakes the streams watching that job."""

    def __init__(self, notifier: ChangeNotifier) -> None:
        self.notifier = notifier
        self.subscribers: list[EventSubscriber] = []

    async def record(
        self,
        connection: AsyncConnection,
        job_id: str,
        *,
        item_indexes: Sequence[int] = (),
        status_changed: bool = True,
    ) -> list[RecordedEvent]:
        """Events for items that just got results and for the job's new state, if it moved."""
        job = await repository.find_job(connection, job_id)
        assert job is not None
        pending: list[tuple[EventKind, dict[str, Any]]] = []
        if item_indexes:
            rows = await connection.execute(
                select(JobItem.idx, JobItem.status, JobItem.error)
                .where(JobItem.job_id == job_id, JobItem.idx.in_(list(item_indexes)))
                .order_by(JobItem.idx)
            )
            pending += [
                (EventKind.ITEM, {"idx": row.idx, "status": row.status, "error": row.error})
                for row in rows
            ]
        if status_changed:
            progress = {
                "done": job.done_items,
                "failed": job.failed_items,
                "total": job.total_items,
            }
            pending.append((EventKind.STATUS, {"status": job.status.value, "progress": progress}))
            if job.status in TERMINAL:
                pending.append((EventKind.END, {"status": job.status.value}))
        if not pending:
            return []
        last = await last_seq(connection, job_id)
        now = utcnow()
        events = [
            RecordedEvent(seq=last + offset, kind=kind, data=data)
            for offset, (kind, data) in enumerate(pending, start=1)
        ]
        await connection.execute(
            insert(JobEvent),
            [
                {
                    "job_id": job_id,
                    "seq": event.seq,
                    "kind": event.kind.value,
                    "data": event.data,
                    "created_at": now,
                }
                for event in events
            ],
        )
        for subscriber in self.subscribers:
            await subscriber.job_events_recorded(connection, job, events)
        await self.notifier.announce(connection, job_id)
        return events


async def last_seq(connection: AsyncConnection, job_id: str) -> int:
    """The job's highest event number, 0 before its first event."""
    query = select(func.coalesce(func.max(JobEvent.seq), 0)).where(JobEvent.job_id == job_id)
    return int((await connection.execute(query)).scalar_one())


async def events_after(
    connection: AsyncConnection, job_id: str, after_seq: int
) -> list[RecordedEvent]:
    """The job's events with `seq > after_seq`, in order."""
    rows = await connection.execute(
        select(JobEvent.seq, JobEvent.kind, JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
        .order_by(JobEvent.seq)
    )
    return [RecordedEvent(seq=row.seq, kind=EventKind(row.kind), data=row.data) for row in rows]
