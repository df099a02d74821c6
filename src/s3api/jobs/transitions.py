"""The two steps every job use case starts from: the job locked for its owner, and the
guarded move from one status to another.

A move is an `UPDATE ... WHERE status IN (allowed)`; no row changed means the job was not
in a state the target may be entered from, answered as `JOB_INVALID_TRANSITION`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.errors import ApiError, ErrorCode
from s3api.jobs import repository
from s3api.jobs.records import JobRecord
from s3api.jobs.states import TERMINAL, JobStatus
from s3api.observability import metrics
from s3api.timeutil import utcnow


async def lock_owned(connection: AsyncConnection, user_id: str, job_id: str) -> JobRecord:
    """The user's job locked `FOR UPDATE`; `JOB_NOT_FOUND` when it is not theirs."""
    job = await repository.find_job(connection, job_id, user_id=user_id, lock=True)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND)
    return job


async def transition(
    connection: AsyncConnection, job_id: str, target: JobStatus, **values: Any
) -> JobRecord:
    """The job as the move left it; no row changed means the move was not allowed:
    `JOB_INVALID_TRANSITION`."""
    moved = await repository.transition(connection, job_id, target, utcnow(), **values)
    if isinstance(moved, JobStatus):
        raise invalid_transition(moved, target)
    if target in TERMINAL:
        metrics.count_job_finished(connection, target.value)
    return moved


def invalid_transition(current: JobStatus, target: JobStatus) -> ApiError:
    return ApiError(
        ErrorCode.JOB_INVALID_TRANSITION,
        f"Job is {current.value}; it cannot become {target.value}",
        {"status": current.value},
    )
