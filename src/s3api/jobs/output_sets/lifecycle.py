"""OutputSetLifecycle: the transactions that end a set, after its job has ended.

The job's own transaction queued the assembly (`JobLifecycle`); here the GPU side's answer
is recorded once, with its event, under the job's row lock, and a dead-lettered assembly
message fails the set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import repository as jobs_repository
from s3api.jobs.event_log import EventKind, JobEventLog
from s3api.jobs.output_sets import repository
from s3api.jobs.output_sets.schemas import OutputSetStatus
from s3api.jobs.records import JobRecord
from s3api.timeutil import utcnow


@dataclass(frozen=True)
class SetResult:
    """The GPU side's answer for a set, already checked against the plan and storage."""

    set_id: str
    status: OutputSetStatus
    idempotency_key: str
    error: str | None = None
    files: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SetResultOutcome:
    """What recording an answer did."""

    processed: bool
    duplicate: bool
    set_status: OutputSetStatus


class OutputSetLifecycle:
    """The only code that ends output sets."""

    def __init__(self, database: Database, events: JobEventLog) -> None:
        self.database = database
        self.events = events

    async def record_result(self, job_id: str, result: SetResult) -> SetResultOutcome:
        """The first answer for the job's current set wins; any later one is a duplicate."""
        async with self.database.transaction() as connection:
            job = await jobs_repository.find_job(connection, job_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            record = await repository.find_set(connection, job_id)
            if record is None or record.set_id != result.set_id:
                raise ApiError(
                    ErrorCode.VALIDATION_FAILED,
                    "set_id is not this job's output set",
                    {"field": "set_id"},
                )
            if record.status is not OutputSetStatus.PENDING:
                return SetResultOutcome(False, True, record.status)
            if not record.queued:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    "The set is assembled only once its job has ended",
                    {"status": job.status.value},
                )
            now = utcnow()
            if result.status is OutputSetStatus.READY:
                await repository.mark_ready(
                    connection, job_id, list(result.files), result.idempotency_key, now
                )
                error = None
            else:
                error = (result.error or "failed")[: repository.MAX_ERROR_LENGTH]
                await repository.mark_failed(connection, job_id, error, result.idempotency_key, now)
            await self._announce(connection, job, record.template, result.status, error)
        return SetResultOutcome(True, False, result.status)

    async def fail_set(self, connection: AsyncConnection, set_id: str, reason: str) -> bool:
        """A dead-lettered assembly message: its set fails, inside the caller's transaction;
        False when the set is gone or already ended."""
        reason = reason[: repository.MAX_ERROR_LENGTH]
        record = await repository.find_set_by_id(connection, set_id)
        if record is None:
            return False
        job = await jobs_repository.find_job(connection, record.job_id, lock=True)
        if job is None:
            return False
        if not await repository.mark_failed(connection, job.id, reason, None, utcnow()):
            return False
        await self._announce(connection, job, record.template, OutputSetStatus.FAILED, reason)
        return True

    async def _announce(
        self,
        connection: AsyncConnection,
        job: JobRecord,
        template: str,
        status: OutputSetStatus,
        error: str | None,
    ) -> None:
        data = {"template": template, "status": status.value, "error": error}
        await self.events.append(connection, job, [(EventKind.OUTPUT_SET, data)])
