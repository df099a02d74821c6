"""`GET /jobs/{id}/events`: a job's live stream, replayed from the event log.

A stream waits on its job's change notification and reads only that job's new events when
woken, so an idle stream costs no query; a re-read every ping interval
covers a notification connection that was lost.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from s3api.common.output_formats import OutputFormat
from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import repository
from s3api.jobs.analysis.keys import instances_key, overlay_key
from s3api.jobs.event_log import EventKind, RecordedEvent, events_after, last_seq
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.service import JobsService
from s3api.jobs.states import TERMINAL, ItemStatus
from s3api.notify.changes import ChangeNotifier
from s3api.storage.base import ObjectStorage
from s3api.storage.keys import ObjectKeys

SNAPSHOT = "snapshot"
MAX_EVENT_ID = 2**31 - 1


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: its `id:`, `event:` name and JSON `data:`."""

    id: int
    event: str
    data: dict[str, Any]


class StreamSlots:
    """Open streams per user in this process, capped at `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = Counter[str]()
        # set whenever a stream closes, so a waiter can re-check without polling
        self.released = asyncio.Event()

    def take(self, user_id: str) -> None:
        """Count one more stream for `user_id`, or refuse with 429."""
        if self.open[user_id] >= self.limit:
            raise ApiError(
                ErrorCode.TOO_MANY_STREAMS,
                f"At most {self.limit} event streams may be open at once",
                {"max_streams": self.limit},
            )
        self.open[user_id] += 1

    def give_back(self, user_id: str) -> None:
        """One stream of `user_id` closed."""
        self.open[user_id] -= 1
        if self.open[user_id] <= 0:
            del self.open[user_id]
        self.released.set()


@dataclass
class OpenedStream:
    """A stream's events and the release of its slot, which whoever serves it must call."""

    events: AsyncIterator[StreamEvent]
    _release: Callable[[], None]
    _released: bool = False

    def release(self) -> None:
        """Give the slot back, once, however the response ended."""
        if not self._released:
            self._released = True
            self._release()


def parse_last_event_id(value: str | None) -> int | None:
    """The `Last-Event-ID` a client resumes after, or None for a fresh stream."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or int(text) > MAX_EVENT_ID:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Last-Event-ID must be an event id from this stream",
            {"field": "Last-Event-ID"},
        )
    return int(text)


class JobStreamService:
    """Opens streams: ownership and the per-user cap are checked before the first byte."""

    def __init__(
        self,
        database: Database,
        jobs: JobsService,
        storage: ObjectStorage,
        notifier: ChangeNotifier,
        slots: StreamSlots,
        ping_seconds: float,
        presign_ttl_seconds: int,
    ) -> None:
        self.database = database
        self.jobs = jobs
        self.storage = storage
        self.notifier = notifier
        self.slots = slots
        self.ping_seconds = ping_seconds
        self.presign_ttl_seconds = presign_ttl_seconds

    async def open_stream(
        self, user_id: str, job_id: str, last_event_id: int | None
    ) -> OpenedStream | None:
        """Check the job is the caller's and take a slot; the caller releases it at the end.

        None when the client resumes at or after the job's `end`: there is nothing left to
        send, and the route answers 204, which stops an `EventSource` from reconnecting.
        """
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id, user_id=user_id)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            if last_event_id is not None and job.status in TERMINAL:
                cursor = await last_seq(connection, job_id)
                if cursor <= last_event_id:
                    return None
        self.slots.take(user_id)
        return OpenedStream(
            self._events(user_id, job_id, last_event_id),
            lambda: self.slots.give_back(user_id),
        )

    async def _events(
        self, user_id: str, job_id: str, last_event_id: int | None
    ) -> AsyncIterator[StreamEvent]:
        async with self.notifier.watch(job_id) as changed:
            if last_event_id is None:
                cursor, ended = await self._snapshot_cursor(job_id)
                snapshot = await self.jobs.job_detail(user_id, job_id)
                yield StreamEvent(cursor - ended, SNAPSHOT, snapshot.model_dump(mode="json"))
                cursor -= ended
            else:
                cursor = last_event_id
            # fixed at execute, before any item can be done: read once, when first needed
            output_format: OutputFormat | None = None
            while True:
                changed.clear()
                async with self.database.read() as connection:
                    events = await events_after(connection, job_id, cursor)
                for event in events:
                    if output_format is None and _is_done_item(event):
                        output_format = await self._output_format(job_id)
                    yield await self._stream_event(
                        user_id, job_id, event, output_format or OutputFormat.PNG
                    )
                    cursor = event.seq
                    if event.kind is EventKind.OUTPUT_SET or (
                        event.kind is EventKind.END and not await self._set_follows(job_id)
                    ):
                        return
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=self.ping_seconds)

    async def _snapshot_cursor(self, job_id: str) -> tuple[int, int]:
        """The last event id, and 1 when that event closes the stream (`end`, or the set's
        `output_set`), so it is replayed right after the snapshot."""
        async with self.database.read() as connection:
            cursor = await last_seq(connection, job_id)
            tail = await events_after(connection, job_id, cursor - 1) if cursor else []
        closing = (EventKind.END, EventKind.OUTPUT_SET)
        ended = int(bool(tail) and tail[-1].kind in closing)
        return cursor, ended

    async def _set_follows(self, job_id: str) -> bool:
        """Whether the job's `end` is followed by its set's `output_set` event."""
        async with self.database.read() as connection:
            return await sets_repository.find_set(connection, job_id) is not None

    async def _output_format(self, job_id: str) -> OutputFormat:
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id)
        return OutputFormat.PNG if job is None else job.output_format

    async def _stream_event(
        self, user_id: str, job_id: str, event: RecordedEvent, output_format: OutputFormat
    ) -> StreamEvent:
        """Item events get freshly signed URLs, as in `GET /jobs/{id}`."""
        data = dict(event.data)
        if event.kind is EventKind.ITEM:
            data["output_url"] = data["preview_url"] = None
            if _is_done_item(event):
                idx = int(data["idx"])
                ttl = self.presign_ttl_seconds
                output_key = ObjectKeys.output(user_id, job_id, idx, output_format)
                output_url, preview_url = await asyncio.gather(
                    self.storage.presign_get(output_key, ttl),
                    self.storage.presign_get(ObjectKeys.preview(user_id, job_id, idx), ttl),
                )
                data["output_url"], data["preview_url"] = output_url, preview_url
        elif event.kind is EventKind.ANALYSIS_ITEM:
            data["instances_url"] = data["overlay_url"] = None
            if data["status"] == ItemStatus.DONE.value:
                idx = int(data["idx"])
                ttl = self.presign_ttl_seconds
                instances_url, overlay_url = await asyncio.gather(
                    self.storage.presign_get(instances_key(user_id, job_id, idx), ttl),
                    self.storage.presign_get(overlay_key(user_id, job_id, idx), ttl),
                )
                data["instances_url"], data["overlay_url"] = instances_url, overlay_url
        return StreamEvent(event.seq, event.kind.value, data)


def _is_done_item(event: RecordedEvent) -> bool:
    return event.kind is EventKind.ITEM and event.data.get("status") == ItemStatus.DONE.value
