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
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import JobEvent, JobItem
from s3api.jobs.records import JobRecord
from s3api.jobs.states import TERMINAL
from s3api.notify.changes import ChangeNotifier
from s3api.timeutil import utcnow

# built once: every job change records events through these
_ITEMS = cast(Table, JobItem.__table__)
_EVENTS = cast(Table, JobEvent.__table__)
_ITEM_RESULTS = (
    select(_ITEMS.c.idx, _ITEMS.c.status, _ITEMS.c.error)
    .where(
        _ITEMS.c.job_id == bindparam("job_id"),
        _ITEMS.c.idx.in_(bindparam("indexes", expanding=True)),
    )
    .order_by(_ITEMS.c.idx)
)
# the usual case, one item's result: a statement whose SQL does not depend on the values
_ITEM_RESULT = select(_ITEMS.c.idx, _ITEMS.c.status, _ITEMS.c.error).where(
    _ITEMS.c.job_id == bindparam("job_id"), _ITEMS.c.idx == bindparam("idx")
)
_LAST_SEQ = select(func.coalesce(func.max(_EVENTS.c.seq), 0)).where(
    _EVENTS.c.job_id == bindparam("job_id")
)
_INSERT_EVENTS = insert(_EVENTS)
_EVENTS_AFTER = (
    select(_EVENTS.c.seq, _EVENTS.c.kind, _EVENTS.c.data)
    .where(_EVENTS.c.job_id == bindparam("job_id"), _EVENTS.c.seq > bindparam("after_seq"))
    .order_by(_EVENTS.c.seq)
)


class EventKind(StrEnum):
    """What a stored event says; `snapshot` is never stored, it is read when a stream opens."""

    ITEM = "item"  # one item got its result: {idx, status, error}
    STATUS = "status"  # the job changed state: {status, progress}
    END = "end"  # the job is terminal: {status}; the stream closes after it
    ANALYSIS_ITEM = "analysis_item"  # one photo's analysis ended: {analysis_id, idx, status, error}
    ANALYSIS = "analysis"  # the analysis moved: {analysis_id, status, concepts}
    OUTPUT_SET = "output_set"  # the set is ready or failed: {template, status, error}


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
        job: JobRecord,
        *,
        item_indexes: Sequence[int] = (),
        status_changed: bool = True,
    ) -> list[RecordedEvent]:
        """Events for items that just got results and for the job's new state, if it moved;
        `job` is the row as the change left it (the caller's `UPDATE … RETURNING`)."""
        job_id = job.id
        pending: list[tuple[EventKind, dict[str, Any]]] = []
        if item_indexes:
            rows = await (
                execute(connection, _ITEM_RESULT, {"job_id": job_id, "idx": item_indexes[0]})
                if len(item_indexes) == 1
                else execute(
                    connection, _ITEM_RESULTS, {"job_id": job_id, "indexes": list(item_indexes)}
                )
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
        return await self.append(connection, job, pending)

    async def append(
        self,
        connection: AsyncConnection,
        job: JobRecord,
        pending: Sequence[tuple[EventKind, dict[str, Any]]],
    ) -> list[RecordedEvent]:
        """Append these events of `job` in order, tell the subscribers and wake the streams."""
        job_id = job.id
        if not pending:
            return []
        last = await last_seq(connection, job_id)
        now = utcnow()
        events = [
            RecordedEvent(seq=last + offset, kind=kind, data=data)
            for offset, (kind, data) in enumerate(pending, start=1)
        ]
        await execute(
            connection,
            _INSERT_EVENTS,
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
    return int((await execute(connection, _LAST_SEQ, {"job_id": job_id})).scalar_one())


async def events_after(
    connection: AsyncConnection, job_id: str, after_seq: int
) -> list[RecordedEvent]:
    """The job's events with `seq > after_seq`, in order."""
    rows = await execute(connection, _EVENTS_AFTER, {"job_id": job_id, "after_seq": after_seq})
    return [RecordedEvent(seq=row.seq, kind=EventKind(row.kind), data=row.data) for row in rows]
