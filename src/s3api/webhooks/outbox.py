"""The webhook outbox: a queue message per delivery, written with the event it announces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.jobs import webhook_subscriptions
from s3api.jobs.event_log import EventKind, RecordedEvent
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.records import JobRecord
from s3api.jobs.webhook_subscriptions import WebhookEvent
from s3api.queue.message_queue import MessageQueue
from s3api.timeutil import format_timestamp, utcnow

WEBHOOKS_QUEUE = "webhooks"


_ANNOUNCED = frozenset(
    {EventKind.ITEM, EventKind.ANALYSIS_ITEM, EventKind.END, EventKind.OUTPUT_SET}
)
"""The events a webhook can ask for (`item.completed` for results and analyses,
`job.completed`: at the job's end, or at its set's for a job with an output template)."""


class WebhookOutbox:
    """Subscribes to the job event log; queues `job.completed` and `item.completed`."""

    def __init__(self, queue: MessageQueue) -> None:
        self.queue = queue

    async def job_events_recorded(
        self, connection: AsyncConnection, job: JobRecord, events: Sequence[RecordedEvent]
    ) -> None:
        """One message per event the job's webhook asked for, in the caller's transaction."""
        if not any(event.kind in _ANNOUNCED for event in events):
            return  # a status change alone is announced to no webhook: no lookup
        subscription = await webhook_subscriptions.find_subscription(connection, job.id)
        if subscription is None:
            return
        queued = False
        for event in events:
            body: dict[str, Any] = {
                "job_id": job.id,
                "user_id": job.user_id,
                "url": subscription.url,
                "timestamp": format_timestamp(utcnow()),
            }
            if event.kind is EventKind.ITEM and WebhookEvent.ITEM_COMPLETED in subscription.events:
                idx = int(event.data["idx"])
                body |= {"type": WebhookEvent.ITEM_COMPLETED.value, "idx": idx}
                await self.queue.enqueue(connection, f"{job.id}:item:{idx}", body)
                queued = True
            elif (
                event.kind is EventKind.ANALYSIS_ITEM
                and WebhookEvent.ITEM_COMPLETED in subscription.events
            ):
                idx, run_id = int(event.data["idx"]), str(event.data["analysis_id"])
                body |= {
                    "type": WebhookEvent.ITEM_COMPLETED.value,
                    "idx": idx,
                    "stage": "analysis",
                    "analysis_id": run_id,
                }
                # one delivery per photo and run: a later run of the same photo is news again
                await self.queue.enqueue(connection, f"{run_id}:a:{idx}", body)
                queued = True
            elif (
                event.kind in (EventKind.END, EventKind.OUTPUT_SET)
                and WebhookEvent.JOB_COMPLETED in subscription.events
                and (event.kind is EventKind.OUTPUT_SET or not await _set_follows(connection, job))
            ):
                body["type"] = WebhookEvent.JOB_COMPLETED.value
                await self.queue.enqueue(connection, f"{job.id}:job", body)
                queued = True
        if queued:
            await webhook_subscriptions.mark_pending(connection, job.id)


async def _set_follows(connection: AsyncConnection, job: JobRecord) -> bool:
    """A job with an output set is announced complete when its set is ready or failed."""
    return await sets_repository.find_set(connection, job.id) is not None
