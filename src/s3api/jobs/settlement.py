"""What the transaction that ends a job also does: refund what no GPU work used, and queue
or fail the job's output set.

Every terminal transition calls both inside its own transaction, so a job never ends without
its refund or leaves its set pending.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.jobs import item_repository, repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.event_log import EventKind, JobEventLog
from s3api.jobs.output_sets import keys as set_keys
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.messages import OutputSetPolicy, output_set_message
from s3api.jobs.output_sets.plan import ASSEMBLED_TEMPLATES, planned_files
from s3api.jobs.output_sets.schemas import OutputSetStatus
from s3api.jobs.records import JobRecord
from s3api.jobs.states import ItemStatus, JobStatus
from s3api.queue.message_queue import MessageQueue
from s3api.timeutil import utcnow
from s3api.users.limits import UserLimiter


async def settle(
    connection: AsyncConnection, limiter: UserLimiter, job: JobRecord, done_items: int
) -> int:
    """Refund every edit that no photo rendered, once: all the renders of an item neither
    done nor analysed, and all but the first of one analysed and not done (the analysis
    used that credit). The slot is free because the job is terminal, and a running
    analysis ends with it."""
    now = utcnow()
    await analysis_repository.end_run(connection, job.id, "the job ended first", now)
    analysed = await analysis_repository.count_analysed_not_done(connection, job.id)
    output_set = await sets_repository.find_set(connection, job.id)
    renders = 1 if output_set is None else output_set.renders_per_photo
    refund = (job.total_items - done_items) * renders - analysed
    if not await repository.mark_settled(connection, job.id, refund, now):
        return 0
    await limiter.refund_for_job(connection, job.user_id, job.id, refund)
    return refund


async def end_output_set(
    connection: AsyncConnection,
    job: JobRecord,
    events: JobEventLog,
    queue: MessageQueue,
    policy: OutputSetPolicy,
) -> None:
    """A job that just ended: queue its set's assembly, in the same transaction, when a
    photo is done; otherwise the set fails now, with its event."""
    record = await sets_repository.find_set(connection, job.id)
    if record is None or record.status is not OutputSetStatus.PENDING or record.queued:
        return
    now = utcnow()
    reason = None
    if job.status is JobStatus.CANCELED:
        reason = "the job was canceled"
    elif job.done_items == 0:
        reason = "no photo was done"
    elif record.template not in ASSEMBLED_TEMPLATES:
        reason = "sets of this template are not assembled"
    if reason is not None:
        await sets_repository.mark_failed(connection, job.id, reason, None, now)
        data = {"template": record.template, "status": "failed", "error": reason}
        await events.append(connection, job, [(EventKind.OUTPUT_SET, data)])
        return
    done = [
        item
        for item in await item_repository.find_items(connection, job.id)
        if item.status is ItemStatus.DONE
    ]
    names = [str(variant["name"]) for variant in record.variants or []]
    files = planned_files(record.template, job, done, names)
    zip_key = set_keys.zip_key(job.user_id, job.id)
    await sets_repository.mark_queued(connection, job.id, files, zip_key, now)
    body = output_set_message(job, done, record, files, zip_key, policy.public_base_url)
    await queue.enqueue(connection, record.set_id, body)
