"""`job.output_set` as `GET /jobs/{id}` shows it, with fresh URLs."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.jobs.output_sets import repository
from s3api.jobs.output_sets.repository import OutputSetRecord
from s3api.jobs.output_sets.schemas import OutputSetFile, OutputSetState, OutputSetStatus
from s3api.jobs.records import JobRecord
from s3api.storage.base import ObjectStorage


async def load_output_set(connection: AsyncConnection, job_id: str) -> OutputSetRecord | None:
    """The job's set row; None for a job without an output template."""
    return await repository.find_set(connection, job_id)


async def signed_output_set(
    storage: ObjectStorage, job: JobRecord, record: OutputSetRecord | None, ttl: int
) -> OutputSetState | None:
    """The set; a ready one lists its files with pre-signed GET URLs (none once expired)."""
    if record is None:
        return None
    state = OutputSetState(template=record.template, status=record.status, error=record.error)
    if record.status is not OutputSetStatus.READY:
        return state
    signing = job.expired_at is None
    keys = [str(entry["key"]) for entry in record.files]
    urls: list[str | None] = [None] * (len(keys) + 1)
    if signing and record.zip_key is not None:
        urls = list(
            await asyncio.gather(
                storage.presign_get(record.zip_key, ttl),
                *(storage.presign_get(key, ttl) for key in keys),
            )
        )
    state.zip_url = urls[0]
    state.files = [
        OutputSetFile(
            name=str(entry["name"]),
            role=str(entry["role"]),
            idx=entry.get("idx"),
            url=url,
            width=int(entry["width"]),
            height=int(entry["height"]),
        )
        for entry, url in zip(record.files, urls[1:], strict=True)
    ]
    return state
