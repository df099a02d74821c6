"""ItemResult: one item's result from the GPU side, and the checks and writes recording it.

The first result of an item wins: a replay (a seen idempotency key, or an item already
decided) is answered as a duplicate instead of changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.errors import ApiError, ErrorCode
from s3api.jobs import item_repository
from s3api.jobs.records import JobRecord
from s3api.jobs.states import ItemStatus, JobStatus
from s3api.storage.keys import ObjectKeys
from s3api.timeutil import utcnow


@dataclass(frozen=True)
class ItemResult:
    """One item's result as reported by the GPU side."""

    idx: int
    status: ItemStatus
    idempotency_key: str
    output_key: str | None = None
    preview_key: str | None = None
    error: str | None = None
    unstored_objects: tuple[str, ...] = ()
    """Result keys that storage did not hold (or held empty or too large) when checked
    before the transaction: a new `done` result naming them is refused."""


@dataclass(frozen=True)
class ItemResultOutcome:
    """What recording a result did."""

    processed: bool
    duplicate: bool
    job_status: JobStatus


def check_result_fits_job(job: JobRecord, result: ItemResult) -> None:
    if not 0 <= result.idx < job.total_items:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            f"idx must be between 0 and {job.total_items - 1}",
            {"field": "idx"},
        )
    if result.status is ItemStatus.DONE:
        expected_output = ObjectKeys.output(job.user_id, job.id, result.idx, job.output_format)
        expected_preview = ObjectKeys.preview(job.user_id, job.id, result.idx)
        if result.output_key not in (None, expected_output) or result.preview_key not in (
            None,
            expected_preview,
        ):
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "output_key/preview_key are not this item's keys",
                {
                    "expected_output_key": expected_output,
                    "expected_preview_key": expected_preview,
                },
            )


async def result_already_known(
    connection: AsyncConnection, job_id: str, result: ItemResult
) -> bool:
    """Whether this key was seen or this item already has a result (a replay)."""
    if await item_repository.idempotency_key_seen(connection, job_id, result.idempotency_key):
        return True
    return await item_repository.item_decided(connection, job_id, result.idx)


async def store_first_result(connection: AsyncConnection, job_id: str, result: ItemResult) -> bool:
    """First result wins: False for a seen idempotency key or an item already decided."""
    if await item_repository.idempotency_key_seen(connection, job_id, result.idempotency_key):
        return False
    error = (result.error or "failed") if result.status is ItemStatus.FAILED else None
    return await item_repository.store_item_result(
        connection, job_id, result.idx, result.status, error, result.idempotency_key, utcnow()
    )


def unstored_result_error(keys: tuple[str, ...]) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "The result objects of a done item must be stored before it is reported",
        {
            "fields": [{"field": "output_key/preview_key", "message": "not stored"}],
            "unstored_keys": list(keys),
        },
    )
