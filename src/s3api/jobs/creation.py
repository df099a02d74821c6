"""Making a job: a new `created` job, or a queued re-run over a finished job's inputs.

Both run inside the caller's transaction with the user's row locked, so the credits and the
concurrency slot they reserve are counted against every other create of the same user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.jobs import item_repository, repository
from s3api.jobs.event_log import JobEventLog
from s3api.jobs.execution_plan import (
    ExecutionPlan,
    MessageBuilder,
    ask_for_output_set,
    store_selection,
)
from s3api.jobs.idempotency import IdempotentCall
from s3api.jobs.records import JobRecord
from s3api.jobs.states import ItemStatus, JobStatus
from s3api.jobs.transitions import lock_owned
from s3api.observability import metrics
from s3api.queue.message_queue import MessageQueue
from s3api.timeutil import utcnow
from s3api.users.limits import UserLimiter
from s3api.users.repository import UserRecord

JobCreatedHook = Callable[[AsyncConnection, str], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """How a create answers: rendered in its transaction, kept under an idempotency key."""

    status_code: int
    render: Callable[[JobRecord], Awaitable[dict[str, Any]]]
    call: IdempotentCall | None = None


@dataclass(frozen=True)
class Rerun:
    """A new job over a finished job's inputs, with its validated edits."""

    parent_job_id: str
    plan: ExecutionPlan
    only_failed: bool
    build_message: MessageBuilder


JobMaker = Callable[[AsyncConnection, UserRecord], Awaitable[JobRecord]]


async def insert_created_job(
    connection: AsyncConnection,
    user: UserRecord,
    preset: str,
    item_count: int,
    on_created: JobCreatedHook | None,
    limiter: UserLimiter,
    events: JobEventLog,
) -> JobRecord:
    """Reserve for and insert a `created` job; the caller holds the user's lock."""
    job_id = new_id()
    active = await repository.count_active_jobs(connection, user.id)
    await limiter.reserve_for_job(
        connection,
        user,
        job_id,
        item_count,
        active,
        list_active_jobs=lambda: repository.list_active_jobs(connection, user.id),
    )
    await repository.insert_job(connection, job_id, user.id, preset, item_count, utcnow())
    metrics.count_job_created(connection)
    if on_created is not None:
        await on_created(connection, job_id)
    job = await repository.find_job(connection, job_id)
    assert job is not None
    await events.record(connection, job)
    return job


async def insert_rerun_job(
    connection: AsyncConnection,
    user: UserRecord,
    rerun: Rerun,
    limiter: UserLimiter,
    queue: MessageQueue,
    events: JobEventLog,
) -> JobRecord:
    """Reserve for and insert a queued job over the parent's inputs (all, or the failed
    ones) with its message; the caller holds the user's lock."""
    parent = await lock_owned(connection, user.id, rerun.parent_job_id)
    if parent.status not in (JobStatus.DONE, JobStatus.FAILED):
        raise ApiError(
            ErrorCode.JOB_INVALID_TRANSITION,
            f"Job is {parent.status.value}; only done or failed jobs can be re-run",
            {"status": parent.status.value},
        )
    if parent.expired_at is not None:
        raise ApiError(ErrorCode.INPUTS_EXPIRED)
    chosen = [
        item
        for item in await item_repository.find_items(connection, parent.id)
        if not rerun.only_failed or item.status is ItemStatus.FAILED
    ]
    if not chosen:
        raise ApiError(
            ErrorCode.JOB_INVALID_TRANSITION,
            "The job has no failed items to re-run",
            {"status": parent.status.value, "failed_items": 0},
        )
    job_id = new_id()
    active = await repository.count_active_jobs(connection, user.id)
    plan = rerun.plan
    await limiter.reserve_for_job(
        connection,
        user,
        job_id,
        len(chosen),
        active,
        list_active_jobs=lambda: repository.list_active_jobs(connection, user.id),
        extra_renders=len(chosen) * (plan.renders_per_photo - 1),
    )
    await repository.insert_job(
        connection,
        job_id,
        user.id,
        parent.preset,
        len(chosen),
        utcnow(),
        input_keys=[item.input_key for item in chosen],
        status=JobStatus.QUEUED,
        parent_job_id=parent.id,
        concepts=plan.concepts,
        protect=plan.protect,
        rule_id=plan.rule_id,
        output_template=plan.output_template,
        output_format=plan.output_format,
    )
    metrics.count_job_created(connection)
    job = await repository.find_job(connection, job_id)
    assert job is not None
    await events.record(connection, job)
    items = await item_repository.find_items(connection, job_id)
    await queue.enqueue(connection, job_id, rerun.build_message(job, items, plan))
    await store_selection(connection, job_id, items, plan)
    await ask_for_output_set(connection, job_id, items, plan)
    return job
