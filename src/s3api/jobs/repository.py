"""Queries on `jobs`: the job rows of the lifecycle, from insert to settlement.

The items' own statements are in `item_repository.py`, those of deletion and retention in
`removal_repository.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    ScalarSelect,
    SQLColumnExpression,
    Table,
    Update,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.output_formats import OutputFormat
from s3api.db.driver import execute
from s3api.db.models import Job, JobItem
from s3api.ids import is_uuid
from s3api.jobs.records import JobRecord
from s3api.jobs.states import ACTIVE, ALLOWED_FROM, ItemStatus, JobStatus
from s3api.storage.keys import ObjectKeys

MAX_ERROR_LENGTH = 500


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
    Job.output_format,
]


# Every statement below is built once and executed with its values as parameters: building
# a statement costs far more than running it on the write paths of a job.
_JOBS = cast(Table, Job.__table__)
_ITEMS = cast(Table, JobItem.__table__)
_ACTIVE_VALUES = sorted(status.value for status in ACTIVE)


def _one_of(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN (…)` with one bound value per entry, so the SQL is fixed when the statement
    is built (a plain `in_` list is expanded at every execution)."""
    return cast(ColumnElement[bool], column.in_([literal(value) for value in values]))


_FIND_JOB_BY_ID = select(*_JOB_COLUMNS).where(Job.id == bindparam("job_id"))
_FIND_JOB_OF_USER = _FIND_JOB_BY_ID.where(Job.user_id == bindparam("user_id"))
# keyed by (only the user's, locked `FOR UPDATE`)
_FIND_JOB = {
    (False, False): _FIND_JOB_BY_ID,
    (False, True): _FIND_JOB_BY_ID.with_for_update(),
    (True, False): _FIND_JOB_OF_USER,
    (True, True): _FIND_JOB_OF_USER.with_for_update(),
}

_JOBS_OF_USER = select(*_JOB_COLUMNS).where(Job.user_id == bindparam("user_id"))
_JOBS_PAGE_ORDER = (Job.created_at.desc(), Job.id.desc())
_PAGE_LIMIT = bindparam("page_limit", type_=Integer)
# keyed by whether a `(created_at, id)` cursor is given
_JOBS_PAGE = {
    False: _JOBS_OF_USER.order_by(*_JOBS_PAGE_ORDER).limit(_PAGE_LIMIT),
    True: _JOBS_OF_USER.where(
        or_(
            Job.created_at < bindparam("after_created_at"),
            and_(
                Job.created_at == bindparam("after_created_at"),
                Job.id < bindparam("after_id"),
            ),
        )
    )
    .order_by(*_JOBS_PAGE_ORDER)
    .limit(_PAGE_LIMIT),
}

_COUNT_ACTIVE_JOBS = (
    select(func.count())
    .select_from(Job)
    .where(Job.user_id == bindparam("user_id"), _one_of(Job.status, _ACTIVE_VALUES))
)

_STATUSES_OF = select(Job.id, Job.status).where(Job.id.in_(bindparam("job_ids", expanding=True)))

_INSERT_JOB = insert(_JOBS)
_INSERT_ITEMS = insert(_ITEMS)

_JOB_STATUS = select(Job.status).where(Job.id == bindparam("job_id"))

# the extra columns that callers set along with a transition
_TRANSITION_EXTRAS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"error"}),
    frozenset({"concepts", "protect", "rule_id", "output_template", "output_format"}),
)


def _transition_statement(target: JobStatus, extras: frozenset[str]) -> Update:
    """The guarded `UPDATE` into `target`, setting `extras` from `new_<column>` parameters."""
    return (
        update(_JOBS)
        .where(
            _JOBS.c.id == bindparam("target_job"),
            _one_of(_JOBS.c.status, sorted(state.value for state in ALLOWED_FROM[target])),
        )
        .values(
            status=target.value,
            updated_at=bindparam("changed_at"),
            **{name: bindparam(f"new_{name}") for name in sorted(extras)},
        )
        .returning(*_JOB_COLUMNS)
    )


# keyed by (target, the extra columns set); another set of columns is built on first use
_TRANSITIONS: dict[tuple[JobStatus, frozenset[str]], Update] = {
    (target, extras): _transition_statement(target, extras)
    for target in ALLOWED_FROM
    for extras in _TRANSITION_EXTRAS
}

_SET_ITEM_COUNTS = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("target_job"))
    .values(
        done_items=bindparam("new_done"),
        failed_items=bindparam("new_failed"),
        updated_at=bindparam("changed_at"),
    )
    .returning(*_JOB_COLUMNS)
)

_MARK_SETTLED = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("target_job"), _JOBS.c.settled_at.is_(None))
    .values(settled_at=bindparam("settled_now"), refunded=bindparam("refund"))
)

_STALE_JOB_IDS = (
    select(Job.id)
    .where(
        (
            Job.status.in_([JobStatus.CREATED.value, JobStatus.UPLOADED.value])
            & (Job.updated_at < bindparam("unstarted_before"))
        )
        | (
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
            & (Job.updated_at < bindparam("stalled_before"))
        )
    )
    .limit(bindparam("row_limit", type_=Integer))
)

_ACTIVE_JOB_IDS = select(Job.id).where(
    Job.user_id == bindparam("user_id"), Job.status.in_(_ACTIVE_VALUES)
)


def _job(row: Sequence[Any]) -> JobRecord:
    """A row of `_JOB_COLUMNS`, taken by position (checked against the fields at import)."""
    values: list[Any] = list(row)
    values[3] = JobStatus(values[3])
    values[-1] = OutputFormat(values[-1])
    return JobRecord(*values)


if [field.name for field in fields(JobRecord)] != [column.key for column in _JOB_COLUMNS]:
    raise ImportError("_JOB_COLUMNS must list JobRecord's fields in order")


async def find_job(
    connection: AsyncConnection, job_id: str, *, user_id: str | None = None, lock: bool = False
) -> JobRecord | None:
    """The job (only if it is `user_id`'s, when given), optionally locked `FOR UPDATE`."""
    if not is_uuid(job_id):
        return None
    if user_id is None:
        row = (await execute(connection, _FIND_JOB[False, lock], {"job_id": job_id})).first()
    else:
        row = (
            await execute(connection, _FIND_JOB[True, lock], {"job_id": job_id, "user_id": user_id})
        ).first()
    return None if row is None else _job(row)


async def list_jobs_page(
    connection: AsyncConnection,
    user_id: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[JobRecord]:
    """Up to `limit` jobs, newest first, strictly after the `(created_at, id)` cursor."""
    params: dict[str, Any] = {"user_id": user_id, "page_limit": limit}
    if after is not None:
        params["after_created_at"], params["after_id"] = after
    rows = (await execute(connection, _JOBS_PAGE[after is not None], params)).all()
    return [_job(row) for row in rows]


async def count_active_jobs(connection: AsyncConnection, user_id: str) -> int:
    """Jobs of the user that hold a concurrency slot (not yet terminal)."""
    return int((await execute(connection, _COUNT_ACTIVE_JOBS, {"user_id": user_id})).scalar_one())


async def list_active_jobs(connection: AsyncConnection, user_id: str) -> list[dict[str, str]]:
    """The jobs holding the user's concurrency slots (id and status), oldest first: what a
    refused create names so the client can offer to cancel one."""
    statement = (
        select(Job.id, Job.status)
        .where(Job.user_id == user_id, Job.status.in_(_ACTIVE_VALUES))
        .order_by(Job.created_at, Job.id)
    )
    rows = (await connection.execute(statement)).all()
    return [{"job_id": job_id, "status": JobStatus(status).value} for job_id, status in rows]


def active_jobs_of(user_id: SQLColumnExpression[str]) -> ScalarSelect[int]:
    """`count_active_jobs` as a subquery, so another statement can carry it in the same
    round trip."""
    return (
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_(_ACTIVE_VALUES))
        .scalar_subquery()
    )


async def statuses_of(connection: AsyncConnection, job_ids: Sequence[str]) -> dict[str, JobStatus]:
    """The current status of each job that exists among `job_ids`."""
    wanted = [job_id for job_id in job_ids if is_uuid(job_id)]
    if not wanted:
        return {}
    rows = await execute(connection, _STATUSES_OF, {"job_ids": wanted})
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
    output_format: OutputFormat = OutputFormat.PNG,
    **values: Any,
) -> None:
    """A new job with its pending items and their object keys.

    `input_keys` (one per item) makes the items read objects of another job: a re-run
    shares its parent's inputs instead of copying them. The output keys' extension follows
    `output_format`.
    """
    if input_keys is not None and len(input_keys) != item_count:
        raise ValueError("one input key per item")
    await execute(
        connection,
        _INSERT_JOB,
        dict(
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
            output_format=output_format.value,
            **values,
        ),
    )
    await execute(
        connection,
        _INSERT_ITEMS,
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
                "output_key": ObjectKeys.output(user_id, job_id, idx, output_format),
                "preview_key": ObjectKeys.preview(user_id, job_id, idx),
                "created_at": now,
                "updated_at": now,
            }
            for idx in range(item_count)
        ],
    )


async def transition(
    connection: AsyncConnection, job_id: str, target: JobStatus, now: datetime, **values: Any
) -> JobRecord | JobStatus:
    """Guarded `UPDATE`: the job as it is now when it moved, else the status that refused
    the move."""
    key = (target, frozenset(values))
    statement = _TRANSITIONS.get(key)
    if statement is None:
        statement = _TRANSITIONS.setdefault(key, _transition_statement(*key))
    params = {f"new_{name}": value for name, value in values.items()}
    params["target_job"] = job_id
    params["changed_at"] = now
    moved = (await execute(connection, statement, params)).first()
    if moved is not None:
        return _job(moved)
    current = (await execute(connection, _JOB_STATUS, {"job_id": job_id})).scalar_one()
    return JobStatus(current)


async def set_item_counts(
    connection: AsyncConnection, job_id: str, done: int, failed: int, now: datetime
) -> JobRecord:
    """Set the job's done and failed counters; the job as it is now."""
    params = {"target_job": job_id, "new_done": done, "new_failed": failed, "changed_at": now}
    return _job((await execute(connection, _SET_ITEM_COUNTS, params)).one())


async def mark_settled(
    connection: AsyncConnection, job_id: str, refund: int, now: datetime
) -> bool:
    """Record the settlement once; False when the job was already settled."""
    result = await execute(
        connection, _MARK_SETTLED, {"target_job": job_id, "settled_now": now, "refund": refund}
    )
    return result.rowcount == 1


async def stale_job_ids(
    connection: AsyncConnection,
    unstarted_before: datetime,
    stalled_before: datetime,
    limit: int,
) -> list[str]:
    """Jobs never started since `unstarted_before` or without progress since `stalled_before`."""
    rows = await execute(
        connection,
        _STALE_JOB_IDS,
        {
            "unstarted_before": unstarted_before,
            "stalled_before": stalled_before,
            "row_limit": limit,
        },
    )
    return [row.id for row in rows]


async def active_job_ids(connection: AsyncConnection, user_id: str) -> list[str]:
    """The user's jobs that have not ended."""
    rows = await execute(connection, _ACTIVE_JOB_IDS, {"user_id": user_id})
    return [row.id for row in rows]
