"""Queries on `job_shares`: one row a job, found by the SHA-256 of its token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import JobShare


@dataclass(frozen=True)
class ShareRecord:
    """A share row as the service sees it."""

    job_id: str
    token_hash: str
    expires_at: datetime


async def replace_share(
    connection: AsyncConnection,
    job_id: str,
    token_hash: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """The job's one share becomes this one; a link issued before stops working."""
    await execute(connection, delete(JobShare).where(JobShare.job_id == job_id))
    await execute(
        connection,
        insert(JobShare).values(
            job_id=job_id, token_hash=token_hash, expires_at=expires_at, created_at=now
        ),
    )


async def delete_share(connection: AsyncConnection, job_id: str) -> bool:
    """Forget the job's share; False when it had none."""
    result = await execute(connection, delete(JobShare).where(JobShare.job_id == job_id))
    return result.rowcount == 1


async def find_share(connection: AsyncConnection, token_hash: str) -> ShareRecord | None:
    """The share whose token hashes to `token_hash`."""
    statement = select(JobShare.job_id, JobShare.token_hash, JobShare.expires_at).where(
        JobShare.token_hash == token_hash
    )
    row = (await execute(connection, statement)).first()
    return None if row is None else ShareRecord(row[0], row[1], row[2])
