"""Queries on `job_items`: the items of a job, their object keys and their results.

An item's first result wins: `store_item_result` only moves an item that is still pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.output_formats import OutputFormat
from s3api.db.driver import execute
from s3api.db.models import JobItem
from s3api.ids import is_uuid
from s3api.jobs.records import ItemRecord
from s3api.jobs.repository import MAX_ERROR_LENGTH
from s3api.jobs.states import ItemStatus
from s3api.storage.keys import ObjectKeys

# built once, like the job statements (see `jobs/repository.py`)
_ITEMS = cast(Table, JobItem.__table__)

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

_SET_OUTPUT_KEY = (
    update(_ITEMS)
    .where(_ITEMS.c.job_id == bindparam("target_job"), _ITEMS.c.idx == bindparam("target_idx"))
    .values(output_key=bindparam("new_output_key"))
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
