"""Queries on `jobs` and `job_items`: every statement of the job lifecycle lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
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
    delete,
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
from s3api.jobs.analysis import repository as analysis_repository
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
    output_format: OutputFormat


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
    Job.output_format,
]


# Every statement below is built once and executed with its values as parameters: building
# a statement costs far more than running it on the write paths of a job.
_JOBS = cast(Table, Job.__table__)
_ITEMS = cast(Table, JobItem.__table__)
_ACTIVE_VALUES = sorted(status.value for status in ACTIVE)
_TERMINAL_VALUES = sorted(status.value for status in TERMINAL)


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

_FIND_ITEMS = (
    select(
        JobItem.idx,
        JobItem.status,
        JobItem.input_key,
        JobItem.output_key,
        JobItem.preview_key,
        JobItem.error,
    )
    .where(JobItem.job_id == bindparam("job_id"))
    .order_by(JobItem.idx)
)

_RESULT_KEYS_OF_ITEM = select(JobItem.output_key, JobItem.preview_key).where(
    JobItem.job_id == bindparam("job_id"), JobItem.idx == bindparam("idx")
)

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

_SET_OUTPUT_KEY = (
    update(_ITEMS)
    .where(_ITEMS.c.job_id == bindparam("target_job"), _ITEMS.c.idx == bindparam("target_idx"))
    .values(output_key=bindparam("new_output_key"))
)

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

_FAIL_PENDING_ITEMS = (
    update(_ITEMS)
    .where(
        _ITEMS.c.job_id == bindparam("target_job"),
        _ITEMS.c.status == ItemStatus.PENDING.value,
    )
    .values(
        status=ItemStatus.FAILED.value,
        error=bindparam("reason"),
        updated_at=bindparam("changed_at"),
    )
)

_IDEMPOTENCY_KEY_SEEN = select(JobItem.idx).where(
    JobItem.job_id == bindparam("job_id"),
    JobItem.idempotency_key == bindparam("idempotency_key"),
)

_ITEM_DECIDED = select(JobItem.idx).where(
    JobItem.job_id == bindparam("job_id"),
    JobItem.idx == bindparam("idx"),
    JobItem.status != ItemStatus.PENDING.value,
)

_STORE_ITEM_RESULT = (
    update(_ITEMS)
    .where(
        _ITEMS.c.job_id == bindparam("target_job"),
        _ITEMS.c.idx == bindparam("target_idx"),
        _ITEMS.c.status == ItemStatus.PENDING.value,
    )
    .values(
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        idempotency_key=bindparam("new_key"),
        updated_at=bindparam("changed_at"),
    )
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


async def find_items(connection: AsyncConnection, job_id: str) -> list[ItemRecord]:
    """The job's items in idx order."""
    rows = (await execute(connection, _FIND_ITEMS, {"job_id": job_id})).all()
    # unpacked by position: a job has up to 200 items, and named access costs per column
    return [
        ItemRecord(
            idx=idx,
            status=ItemStatus(status),
            input_key=input_key,
            output_key=output_key,
            preview_key=preview_key,
            error=error,
        )
        for idx, status, input_key, output_key, preview_key, error in rows
    ]


async def result_keys_of_item(
    connection: AsyncConnection, job_id: str, idx: int
) -> tuple[str, str] | None:
    """The output and preview keys of one item, or None when the job has no such item."""
    if not is_uuid(job_id):
        return None
    row = (await execute(connection, _RESULT_KEYS_OF_ITEM, {"job_id": job_id, "idx": idx})).first()
    return None if row is None else (row[0], row[1])


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


async def set_output_keys(
    connection: AsyncConnection,
    user_id: str,
    job_id: str,
    item_count: int,
    output_format: OutputFormat,
) -> None:
    """Give every item the output key of `output_format` (items are made with `png` keys)."""
    await execute(
        connection,
        _SET_OUTPUT_KEY,
        [
            {
                "target_job": job_id,
                "target_idx": idx,
                "new_output_key": ObjectKeys.output(user_id, job_id, idx, output_format),
            }
            for idx in range(item_count)
        ],
    )


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


async def fail_pending_items(
    connection: AsyncConnection, job_id: str, reason: str, now: datetime
) -> None:
    """Every item still pending becomes failed with `reason`."""
    await execute(
        connection,
        _FAIL_PENDING_ITEMS,
        {"target_job": job_id, "reason": reason[:MAX_ERROR_LENGTH], "changed_at": now},
    )


async def idempotency_key_seen(
    connection: AsyncConnection, job_id: str, idempotency_key: str
) -> bool:
    """Whether a result with this key was already recorded for the job."""
    seen = await execute(
        connection, _IDEMPOTENCY_KEY_SEEN, {"job_id": job_id, "idempotency_key": idempotency_key}
    )
    return seen.first() is not None


async def item_decided(connection: AsyncConnection, job_id: str, idx: int) -> bool:
    """Whether the item already has a result."""
    decided = await execute(connection, _ITEM_DECIDED, {"job_id": job_id, "idx": idx})
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
    stored = await execute(
        connection,
        _STORE_ITEM_RESULT,
        {
            "target_job": job_id,
            "target_idx": idx,
            "new_status": status.value,
            "new_error": None if error is None else error[:MAX_ERROR_LENGTH],
            "new_key": idempotency_key,
            "changed_at": now,
        },
    )
    return stored.rowcount == 1


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
