"""Queries on `jobs` and `job_items`: every statement of the job lifecycle lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ScalarSelect,
    SQLColumnExpression,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import Job, JobItem
from s3api.ids import is_uuid
from s3api.jobs.states import ACTIVE, ALLOWED_FROM, TERMINAL, ItemStatus, JobStatus
from s3api.storage.keys import ObjectKeys

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class JobRecord:
    """A job row as the services see it."""

    id: str
    user_id: str
    preset: str
    status: JobStatus
    total_items: int
    done_items: int
    failed_items: int
    concepts: dict[str, Any] | None
    protect: list[str] | None
    refunded: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    parent_job_id: str | None
    expired_at: datetime | None


@dataclass(frozen=True)
class ItemRecord:
    """One item row."""

    idx: int
    status: ItemStatus
    input_key: str
    output_key: str
    preview_key: str
    error: str | None


_JOB_COLUMNS = [
    Job.id,
    Job.user_id,
    Job.preset,
    Job.status,
    Job.total_items,
    Job.done_items,
    Job.failed_items,
    Job.concepts,
    Job.protect,
    Job.refunded,
    Job.error,
    Job.created_at,
    Job.updated_at,
    Job.settled_at,
    Job.parent_job_id,
    Job.expired_at,
]


def _job(mapping: Any) -> JobRecord:
    values = dict(mapping)
    values["status"] = JobStatus(values["status"])
    return JobRecord(**values)


async def find_job(
    connection: AsyncConnection, job_id: str, *, user_id: str | None = None, lock: bool = False
) -> JobRecord | None:
    """The job (only if it is `user_id`'s, when given), optionally locked `FOR UPDATE`."""
    if not is_uuid(job_id):
        return None
    query = select(*_JOB_COLUMNS).where(Job.id == job_id)
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await connection.execute(query)).first()
    return None if row is None else _job(row._mapping)


async def find_items(connection: AsyncConnection, job_id: str) -> list[ItemRecord]:
    """The job's items in idx order."""
    rows = await connection.execute(
        select(
            JobItem.idx,
            JobItem.status,
            JobItem.input_key,
            JobItem.output_key,
            JobItem.preview_key,
            JobItem.error,
        )
        .where(JobItem.job_id == job_id)
        .order_by(JobItem.idx)
    )
    return [
        ItemRecord(
            idx=row.idx,
            status=ItemStatus(row.status),
            input_key=row.input_key,
            output_key=row.output_key,
            preview_key=row.preview_key,
            error=row.error,
        )
        for row in rows
    ]


async def list_jobs_page(
    connection: AsyncConnection,
    user_id: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[JobRecord]:
    """Up to `limit` jobs, newest first, strictly after the `(created_at, id)` cursor."""
    query = select(*_JOB_COLUMNS).where(Job.user_id == user_id)
    if after is not None:
        created_at, job_id = after
        query = query.where(
            or_(
                Job.created_at < created_at,
                and_(Job.created_at == created_at, Job.id < job_id),
            )
        )
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return [_job(row._mapping) for row in await connection.execute(query)]


async def count_active_jobs(connection: AsyncConnection, user_id: str) -> int:
    """Jobs of the user that hold a concurrency slot (not yet terminal)."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_([s.value for s in ACTIVE]))
    )
    return int((await connection.execute(query)).scalar_one())


def active_jobs_of(user_id: SQLColumnExpression[str]) -> ScalarSelect[int]:
    """`count_active_jobs` as a subquery, so another statement can carry it in the same
    round trip."""
    return (
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_([s.value for s in ACTIVE]))
        .scalar_subquery()
    )


async def statuses_of(connection: AsyncConnection, job_ids: Sequence[str]) -> dict[str, JobStatus]:
    """The current status of each job that exists among `job_ids`."""
    wanted = [job_id for job_id in job_ids if is_uuid(job_id)]
    if not wanted:
        return {}
    rows = await connection.execute(select(Job.id, Job.status).where(Job.id.in_(wanted)))
    return {row.id: JobStatus(row.status) for row in rows}


async def insert_job(
    connection: AsyncConnection,
    job_id: str,
    user_id: str,
    preset: str,
    item_count: int,
    now: datetime,
    *,
    input_keys: Sequence[str] | None = None,
    status: JobStatus = JobStatus.CREATED,
    **values: Any,
) -> None:
    """A new job with its pending items and their object keys.

    `input_keys` (one per item) makes the items read objects of another job: a re-run
    shares its parent's inputs instead of copying them.
    """
    if input_keys is not None and len(input_keys) != item_count:
        raise ValueError("one input key per item")
    await connection.execute(
        insert(Job).values(
            id=job_id,
            user_id=user_id,
            preset=preset,
            status=status.value,
            total_items=item_count,
            done_items=0,
            failed_items=0,
            refunded=0,
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    await connection.execute(
        insert(JobItem),
        [
            {
                "job_id": job_id,
                "idx": idx,
                "status": ItemStatus.PENDING.value,
                "input_key": (
                    ObjectKeys.input(user_id, job_id, idx)
                    if input_keys is None
                    else input_keys[idx]
                ),
                "output_key": ObjectKeys.output(user_id, job_id, idx),
                "preview_key": ObjectKeys.preview(user_id, job_id, idx),
                "created_at": now,
                "updated_at": now,
            }
            for idx in range(item_count)
        ],
    )


async def transition(
    connection: AsyncConnection, job_id: str, target: JobStatus, now: datetime, **values: Any
) -> JobStatus | None:
    """Guarded `UPDATE`: None when it moved, else the status that refused the move."""
    allowed = [state.value for state in ALLOWED_FROM[target]]
    result = await connection.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(allowed))
        .values(status=target.value, updated_at=now, **values)
    )
    if result.rowcount == 1:
        return None
    current = (await connection.execute(select(Job.status).where(Job.id == job_id))).scalar_one()
    return JobStatus(current)


async def set_item_counts(
    connection: AsyncConnection, job_id: str, done: int, failed: int, now: datetime
) -> None:
    """The job's done and failed counters."""
    await connection.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(done_items=done, failed_items=failed, updated_at=now)
    )


async def mark_settled(
    connection: AsyncConnection, job_id: str, refund: int, now: datetime
) -> bool:
    """Record the settlement once; False when the job was already settled."""
    result = await connection.execute(
        update(Job)
        .where(Job.id == job_id, Job.settled_at.is_(None))
        .values(settled_at=now, refunded=refund)
    )
    return result.rowcount == 1


async def fail_pending_items(
    connection: AsyncConnection, job_id: str, reason: str, now: datetime
) -> None:
    """Every item still pending becomes failed with `reason`."""
    await connection.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING.value)
        .values(status=ItemStatus.FAILED.value, error=reason[:MAX_ERROR_LENGTH], updated_at=now)
    )


async def idempotency_key_seen(
    connection: AsyncConnection, job_id: str, idempotency_key: str
) -> bool:
    """Whether a result with this key was already recorded for the job."""
    seen = await connection.execute(
        select(JobItem.idx).where(
            JobItem.job_id == job_id, JobItem.idempotency_key == idempotency_key
        )
    )
    return seen.first() is not None


async def item_decided(connection: AsyncConnection, job_id: str, idx: int) -> bool:
    """Whether the item already has a result."""
    decided = await connection.execute(
        select(JobItem.idx).where(
            JobItem.job_id == job_id,
            JobItem.idx == idx,
            JobItem.status != ItemStatus.PENDING.value,
        )
    )
    return decided.first() is not None


async def store_item_result(
    connection: AsyncConnection,
    job_id: str,
    idx: int,
    status: ItemStatus,
    error: str | None,
    idempotency_key: str,
    now: datetime,
) -> bool:
    """First result wins: False when the item was already decided."""
    stored = await connection.execute(
        update(JobItem)
        .where(
            JobItem.job_id == job_id,
            JobItem.idx == idx,
            JobItem.status == ItemStatus.PENDING.value,
        )
        .values(
            status=status.value,
            error=None if error is None else error[:MAX_ERROR_LENGTH],
            idempotency_key=idempotency_key,
            updated_at=now,
        )
    )
    return stored.rowcount == 1


async def stale_job_ids(
    connection: AsyncConnection,
    unstarted_before: datetime,
    stalled_before: datetime,
    limit: int,
) -> list[str]:
    """Jobs never started since `unstarted_before` or without progress since `stalled_before`."""
    rows = await connection.execute(
        select(Job.id)
        .where(
            (
                Job.status.in_([JobStatus.CREATED.value, JobStatus.UPLOADED.value])
                & (Job.updated_at < unstarted_before)
            )
            | (
                Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
                & (Job.updated_at < stalled_before)
            )
        )
        .limit(limit)
    )
    return [row.id for row in rows]


async def active_job_ids(connection: AsyncConnection, user_id: str) -> list[str]:
    """The user's jobs that have not ended."""
    rows = await connection.execute(
        select(Job.id).where(Job.user_id == user_id, Job.status.in_([s.value for s in ACTIVE]))
    )
    return [row.id for row in rows]


async def inputs_used_elsewhere(
    connection: AsyncConnection, input_keys: Sequence[str], job_id: str
) -> set[str]:
    """Those of `input_keys` that a job other than `job_id`, not expired, still reads."""
    if not input_keys:
        return set()
    rows = await connection.execute(
        select(JobItem.input_key)
        .join(Job, Job.id == JobItem.job_id)
        .where(
            JobItem.input_key.in_(list(input_keys)),
            JobItem.job_id != job_id,
            Job.expired_at.is_(None),
        )
        .distinct()
    )
    return {row.input_key for row in rows}


async def delete_job(connection: AsyncConnection, job_id: str) -> None:
    """The job's row and (by cascade) its items; the ledger keeps its rows."""
    await connection.execute(delete(JobItem).where(JobItem.job_id == job_id))
    await connection.execute(delete(Job).where(Job.id == job_id))


async def mark_expired(connection: AsyncConnection, job_id: str, now: datetime) -> bool:
    """Record that retention removed the job's objects; False if it already had."""
    result = await connection.execute(
        update(Job).where(Job.id == job_id, Job.expired_at.is_(None)).values(expired_at=now)
    )
    return result.rowcount == 1


async def expirable_job_ids(
    connection: AsyncConnection, ended_before: datetime, limit: int
) -> list[str]:
    """Terminal jobs, not yet expired, whose last change is older than `ended_before`."""
    rows = await connection.execute(
        select(Job.id)
        .where(
            Job.status.in_([s.value for s in TERMINAL]),
            Job.expired_at.is_(None),
            Job.updated_at < ended_before,
        )
        .order_by(Job.updated_at)
        .limit(limit)
    )
    return [row.id for row in rows]


async def object_keys_of_user(connection: AsyncConnection, user_id: str) -> list[str]:
    """Every input, output and preview key of every job of the user."""
    rows = await connection.execute(
        select(JobItem.input_key, JobItem.output_key, JobItem.preview_key)
        .join(Job, Job.id == JobItem.job_id)
        .where(Job.user_id == user_id)
    )
    keys: set[str] = set()
    for row in rows:
        keys.update((row.input_key, row.output_key, row.preview_key))
    return sorted(keys)
