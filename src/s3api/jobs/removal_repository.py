"""Queries of deletion and retention: which inputs other jobs still read, which jobs are
due, and the rows and keys that go with a job or an account.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Integer, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import Job, JobItem
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.states import TERMINAL

# built once, like the job statements (see `jobs/repository.py`)
_JOBS = cast(Table, Job.__table__)
_ITEMS = cast(Table, JobItem.__table__)
_TERMINAL_VALUES = sorted(status.value for status in TERMINAL)

_INPUTS_USED_ELSEWHERE = (
    select(JobItem.input_key)
    .join(Job, Job.id == JobItem.job_id)
    .where(
        JobItem.input_key.in_(bindparam("input_keys", expanding=True)),
        JobItem.job_id != bindparam("job_id"),
        Job.expired_at.is_(None),
    )
    .distinct()
)

_DELETE_ITEMS_OF_JOB = delete(_ITEMS).where(_ITEMS.c.job_id == bindparam("target_job"))
_DELETE_JOB = delete(_JOBS).where(_JOBS.c.id == bindparam("target_job"))

_MARK_EXPIRED = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("target_job"), _JOBS.c.expired_at.is_(None))
    .values(expired_at=bindparam("expired_now"))
)

_EXPIRABLE_JOB_IDS = (
    select(Job.id)
    .where(
        Job.status.in_(_TERMINAL_VALUES),
        Job.expired_at.is_(None),
        Job.updated_at < bindparam("ended_before"),
    )
    .order_by(Job.updated_at)
    .limit(bindparam("row_limit", type_=Integer))
)

_OBJECT_KEYS_OF_USER = (
    select(JobItem.input_key, JobItem.output_key, JobItem.preview_key)
    .join(Job, Job.id == JobItem.job_id)
    .where(Job.user_id == bindparam("user_id"))
)


async def inputs_used_elsewhere(
    connection: AsyncConnection, input_keys: Sequence[str], job_id: str
) -> set[str]:
    """Those of `input_keys` that a job other than `job_id`, not expired, still reads."""
    if not input_keys:
        return set()
    rows = await execute(
        connection, _INPUTS_USED_ELSEWHERE, {"input_keys": list(input_keys), "job_id": job_id}
    )
    return {row.input_key for row in rows}


async def delete_job(connection: AsyncConnection, job_id: str) -> None:
    """The job's row and (by cascade) its items; the ledger keeps its rows."""
    await execute(connection, _DELETE_ITEMS_OF_JOB, {"target_job": job_id})
    await execute(connection, _DELETE_JOB, {"target_job": job_id})


async def mark_expired(connection: AsyncConnection, job_id: str, now: datetime) -> bool:
    """Record that retention removed the job's objects; False if it already had."""
    result = await execute(connection, _MARK_EXPIRED, {"target_job": job_id, "expired_now": now})
    return result.rowcount == 1


async def expirable_job_ids(
    connection: AsyncConnection, ended_before: datetime, limit: int
) -> list[str]:
    """Terminal jobs, not yet expired, whose last change is older than `ended_before`."""
    rows = await execute(
        connection, _EXPIRABLE_JOB_IDS, {"ended_before": ended_before, "row_limit": limit}
    )
    return [row.id for row in rows]


async def object_keys_of_user(connection: AsyncConnection, user_id: str) -> list[str]:
    """Every input, output, preview and analysis key of every job of the user."""
    rows = await execute(connection, _OBJECT_KEYS_OF_USER, {"user_id": user_id})
    keys: set[str] = set(await analysis_repository.object_keys_of_user(connection, user_id))
    for row in rows:
        keys.update((row.input_key, row.output_key, row.preview_key))
    return sorted(keys)
