"""Queries on `output_sets`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import Job, OutputSet
from s3api.jobs.output_sets.schemas import OutputSetStatus

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class OutputSetRecord:
    """A job's set row."""

    job_id: str
    set_id: str
    template: str
    status: OutputSetStatus
    error: str | None
    watermark: dict[str, Any] | None
    files: list[dict[str, Any]]
    zip_key: str | None
    idempotency_key: str | None
    variants: list[dict[str, Any]] | None = None
    """`[{name, label, concepts}]` rendered of every photo, or None for one result each."""
    variant_keys: list[list[str]] | None = None
    """Per idx, the keys of variants 1..n-1 (variant 0 is the item's own result)."""

    @property
    def renders_per_photo(self) -> int:
        """How many edits each photo of the job renders, and is charged for."""
        return len(self.variants) if self.variants else 1

    @property
    def queued(self) -> bool:
        """Whether its assembly message was written (the job ended with a photo done)."""
        return self.zip_key is not None


_SETS = cast(Table, OutputSet.__table__)
_JOBS = cast(Table, Job.__table__)
_COLUMNS = (
    _SETS.c.job_id,
    _SETS.c.set_id,
    _SETS.c.template,
    _SETS.c.status,
    _SETS.c.error,
    _SETS.c.watermark,
    _SETS.c.files,
    _SETS.c.zip_key,
    _SETS.c.idempotency_key,
    _SETS.c.variants,
    _SETS.c.variant_keys,
)
_FIND = select(*_COLUMNS).where(_SETS.c.job_id == bindparam("target_job"))
_FIND_BY_SET = select(*_COLUMNS).where(_SETS.c.set_id == bindparam("target_set"))
_INSERT = insert(_SETS)
_CHANGE = update(_SETS).where(
    _SETS.c.job_id == bindparam("target_job"),
    _SETS.c.status == OutputSetStatus.PENDING.value,
)


def _record(row: Any) -> OutputSetRecord:
    return OutputSetRecord(
        job_id=row.job_id,
        set_id=row.set_id,
        template=row.template,
        status=OutputSetStatus(row.status),
        error=row.error,
        watermark=row.watermark,
        files=list(row.files),
        zip_key=row.zip_key,
        idempotency_key=row.idempotency_key,
        variants=None if row.variants is None else list(row.variants),
        variant_keys=None if row.variant_keys is None else [list(k) for k in row.variant_keys],
    )


async def insert_set(
    connection: AsyncConnection,
    job_id: str,
    set_id: str,
    template: str,
    watermark: dict[str, Any] | None,
    now: datetime,
    variants: list[dict[str, Any]] | None = None,
    variant_keys: list[list[str]] | None = None,
) -> None:
    """A pending set for a job being queued, with the variants its photos render."""
    await execute(
        connection,
        _INSERT,
        {
            "job_id": job_id,
            "set_id": set_id,
            "template": template,
            "status": OutputSetStatus.PENDING.value,
            "error": None,
            "watermark": watermark,
            "files": [],
            "zip_key": None,
            "idempotency_key": None,
            "variants": variants,
            "variant_keys": variant_keys,
            "created_at": now,
            "updated_at": now,
        },
    )


async def find_set(connection: AsyncConnection, job_id: str) -> OutputSetRecord | None:
    """The job's set, if it asked for one."""
    row = (await execute(connection, _FIND, {"target_job": job_id})).first()
    return None if row is None else _record(row)


async def find_set_by_id(connection: AsyncConnection, set_id: str) -> OutputSetRecord | None:
    """The set whose assembly message has this subject."""
    row = (await execute(connection, _FIND_BY_SET, {"target_set": set_id})).first()
    return None if row is None else _record(row)


async def mark_queued(
    connection: AsyncConnection,
    job_id: str,
    files: list[dict[str, Any]],
    zip_key: str,
    now: datetime,
) -> None:
    """The planned files and the zip's key, written with the assembly message."""
    await execute(
        connection,
        _CHANGE.values(files=files, zip_key=zip_key, updated_at=now),
        {"target_job": job_id},
    )


async def mark_ready(
    connection: AsyncConnection,
    job_id: str,
    files: list[dict[str, Any]],
    idempotency_key: str,
    now: datetime,
) -> bool:
    """`pending → ready` with the measured files; False when it was no longer pending."""
    result = await execute(
        connection,
        _CHANGE.values(
            status=OutputSetStatus.READY.value,
            files=files,
            idempotency_key=idempotency_key,
            updated_at=now,
        ),
        {"target_job": job_id},
    )
    return bool(result.rowcount)


async def mark_failed(
    connection: AsyncConnection,
    job_id: str,
    error: str,
    idempotency_key: str | None,
    now: datetime,
) -> bool:
    """`pending → failed`; False when it was no longer pending."""
    result = await execute(
        connection,
        _CHANGE.values(
            status=OutputSetStatus.FAILED.value,
            error=error[:MAX_ERROR_LENGTH],
            idempotency_key=idempotency_key,
            updated_at=now,
        ),
        {"target_job": job_id},
    )
    return bool(result.rowcount)


async def pending_set_ids(connection: AsyncConnection, set_ids: Sequence[str]) -> set[str]:
    """Those of `set_ids` still waiting for their assembly."""
    if not set_ids:
        return set()
    statement = select(_SETS.c.set_id).where(
        _SETS.c.set_id.in_(list(set_ids)), _SETS.c.status == OutputSetStatus.PENDING.value
    )
    return {row.set_id for row in await execute(connection, statement)}


def object_keys(record: OutputSetRecord) -> list[str]:
    """What the set may have stored: every variant render, planned file and the zip."""
    listed = [key for keys in record.variant_keys or [] for key in keys]
    listed += [str(entry["key"]) for entry in record.files]
    return listed + ([record.zip_key] if record.zip_key else [])


async def object_keys_of_user(connection: AsyncConnection, user_id: str) -> list[str]:
    """The set objects of every job of the user (account deletion)."""
    statement = (
        select(*_COLUMNS)
        .join(_JOBS, _JOBS.c.id == _SETS.c.job_id)
        .where(_JOBS.c.user_id == user_id)
    )
    rows = await execute(connection, statement)
    return [key for row in rows for key in object_keys(_record(row))]
