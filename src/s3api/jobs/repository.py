"""Queries on `jobs_log` and `job_items_log`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import JobItemLog, JobLog
from s3api.ids import is_uuid


@dataclass(frozen=True)
class JobRecord:
    """A job row as the services see it."""

    id: str
    user_id: str
    preset: str
    status: str
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


@dataclass(frozen=True)
class ItemRecord:
    """One item row."""

    idx: int
    status: str
    input_key: str
    output_key: str
    preview_key: str
    error: str | None


_JOB_COLUMNS = [
    JobLog.id,
    JobLog.user_id,
    JobLog.preset,
    JobLog.status,
    JobLog.total_items,
    JobLog.done_items,
    JobLog.failed_items,
    JobLog.concepts,
    JobLog.protect,
    JobLog.refunded,
    JobLog.error,
    JobLog.created_at,
    JobLog.updated_at,
    JobLog.settled_at,
]


async def find_job(
    connection: AsyncConnection, job_id: str, *, user_id: str | None = None, lock: bool = False
) -> JobRecord | None:
    """The job (only if it is `user_id`'s, when given), optionally locked `FOR UPDATE`."""
    if not is_uuid(job_id):
        return None
    query = select(*_JOB_COLUMNS).where(JobLog.id == job_id)
    if user_id is not None:
        query = query.where(JobLog.user_id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await connection.execute(query)).first()
    return None if row is None else JobRecord(**row._mapping)


async def find_items(connection: AsyncConnection, job_id: str) -> list[ItemRecord]:
    """The job's items in idx order."""
    rows = await connection.execute(
        select(
            JobItemLog.idx,
            JobItemLog.status,
            JobItemLog.input_key,
            JobItemLog.output_key,
            JobItemLog.preview_key,
            JobItemLog.error,
        )
        .where(JobItemLog.job_id == job_id)
        .order_by(JobItemLog.idx)
    )
    return [ItemRecord(**row._mapping) for row in rows]


async def list_jobs_page(
    connection: AsyncConnection,
    user_id: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[JobRecord]:
    """Up to `limit` jobs, newest first, strictly after the `(created_at, id)` cursor."""
    query = select(*_JOB_COLUMNS).where(JobLog.user_id == user_id)
    if after is not None:
        created_at, job_id = after
        query = query.where(
            or_(
                JobLog.created_at < created_at,
                and_(JobLog.created_at == created_at, JobLog.id < job_id),
            )
        )
    query = query.order_by(JobLog.created_at.desc(), JobLog.id.desc()).limit(limit)
    return [JobRecord(**row._mapping) for row in await connection.execute(query)]
