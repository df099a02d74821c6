"""JobCoordinator: the job state machine, item results and settlement.

The original kept each job in a Durable Object and flushed it to D1 later. Here every
method is one database transaction: the job row is locked (`FOR UPDATE` on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite), the transition is a guarded `UPDATE ... WHERE status IN
(allowed)`, and settlement happens in the same transaction as the terminal transition,
guarded by `settled_at IS NULL` and a unique `(job_id, kind)` ledger index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.coordinators.user_limiter import UserLimiter
from s3api.db.engine import Database
from s3api.db.models import JobItemLog, JobLog
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.jobs import repository
from s3api.jobs.repository import ItemRecord, JobRecord
from s3api.jobs.states import ALLOWED_FROM, TERMINAL, ItemStatus, JobStatus
from s3api.observability import metrics
from s3api.queue.repository import MessageQueue
from s3api.settings import Settings
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


@dataclass(frozen=True)
class ItemResultOutcome:
    """What recording a result did."""

    processed: bool
    duplicate: bool
    job_status: JobStatus


@dataclass(frozen=True)
class ExecutionPlan:
    """Validated edits for `uploaded → queued`."""

    concepts: dict[str, dict[str, str | None]]
    protect: list[str]
    rule_id: str | None
    output_template: str | None


MessageBuilder = Callable[[JobRecord, list[ItemRecord], ExecutionPlan], dict[str, Any]]


class JobCoordinator:
    """The only code that changes job state, item results or a job's credits."""

    def __init__(
        self, database: Database, settings: Settings, limiter: UserLimiter, queue: MessageQueue
    ) -> None:
        self.database = database
        self.settings = settings
        self.limiter = limiter
        self.queue = queue

    async def create_job(self, user_id: str, preset: str, item_count: int) -> JobRecord:
        """Reserve credits and a concurrency slot and create the job with its items, atomically."""
        job_id = new_id()
        now = utcnow()
        async with self.database.transaction() as connection:
            user = await self.limiter.lock_user(connection, user_id)
            await self.limiter.reserve_for_job(connection, user, job_id, item_count)
            await connection.execute(
                insert(JobLog).values(
                    id=job_id,
                    user_id=user_id,
                    preset=preset,
                    status=JobStatus.CREATED.value,
                    total_items=item_count,
                    done_items=0,
                    failed_items=0,
                    refunded=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            await connection.execute(
                insert(JobItemLog),
                [
                    {
                        "job_id": job_id,
                        "idx": idx,
                        "status": ItemStatus.PENDING.value,
                        "input_key": ObjectKeys.input(user_id, job_id, idx),
                        "output_key": ObjectKeys.output(user_id, job_id, idx),
                        "preview_key": ObjectKeys.preview(user_id, job_id, idx),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for idx in range(item_count)
                ],
            )
            metrics.count_job_created(connection)
            job = await repository.find_job(connection, job_id)
        assert job is not None
        return job

    async def confirm_upload(self, user_id: str, job_id: str) -> None:
        """`created → uploaded`; the caller has verified every input beforehand."""
        async with self.database.transaction() as connection:
            await self._lock_owned(connection, user_id, job_id)
            await self._transition(connection, job_id, JobStatus.UPLOADED)

    async def queue_job(
        self,
        user_id: str,
        job_id: str,
        plan: ExecutionPlan,
        build_message: MessageBuilder,
    ) -> None:
        """`uploaded → queued` and the queue message, in one transaction (the outbox)."""
        async with self.database.transaction() as connection:
            job = await self._lock_owned(connection, user_id, job_id)
            if job.status != JobStatus.UPLOADED:
                raise _invalid_transition(job.status, JobStatus.QUEUED)
            items = await repository.find_items(connection, job_id)
            await self._transition(
                connection,
                job_id,
                JobStatus.QUEUED,
                concepts=plan.concepts,
                protect=plan.protect,
                rule_id=plan.rule_id,
                output_template=plan.output_template,
            )
            await self.queue.enqueue(connection, job_id, build_message(job, items, plan))

    async def record_item_result(self, job_id: str, result: ItemResult) -> ItemResultOutcome:
        """Record the first result of an item; settle when it was the last one."""
        async with self.database.transaction() as connection:
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            self._check_result_fits_job(job, result)
            status = JobStatus(job.status)
            if status in TERMINAL:
                seen = await self._result_already_known(connection, job_id, result)
                return ItemResultOutcome(processed=False, duplicate=seen, job_status=status)
            if status in (JobStatus.CREATED, JobStatus.UPLOADED):
                raise _invalid_transition(status, JobStatus.RUNNING)
            if not await self._store_item_result(connection, job_id, result):
                return ItemResultOutcome(processed=False, duplicate=True, job_status=status)
            metrics.count_items_finished(connection, result.status)
            done = job.done_items + (result.status is ItemStatus.DONE)
            failed = job.failed_items + (result.status is ItemStatus.FAILED)
            if done + failed < job.total_items:
                new_status = JobStatus.RUNNING
            else:
                new_status = JobStatus.DONE if done > 0 else JobStatus.FAILED
            if new_status != status:
                await self._transition(connection, job_id, new_status)
            await connection.execute(
                update(JobLog)
                .where(JobLog.id == job_id)
                .values(done_items=done, failed_items=failed, updated_at=utcnow())
            )
            if new_status in TERMINAL:
                await self._settle(connection, job, done)
        return ItemResultOutcome(processed=True, duplicate=False, job_status=new_status)

    async def cancel_job(self, user_id: str, job_id: str) -> int:
        """Any non-terminal state → `canceled`, refunding every item not done; returns it."""
        async with self.database.transaction() as connection:
            job = await self._lock_owned(connection, user_id, job_id)
            await self._transition(connection, job_id, JobStatus.CANCELED)
            return await self._settle(connection, job, job.done_items)

    async def fail_job(self, connection: AsyncConnection, job_id: str, reason: str) -> bool:
        """`queued | running → failed` inside the caller's transaction; False if not allowed."""
        job = await repository.find_job(connection, job_id, lock=True)
        if job is None or JobStatus(job.status) not in ALLOWED_FROM[JobStatus.FAILED]:
            return False
        await self._transition(connection, job_id, JobStatus.FAILED, error=reason[:500])
        await connection.execute(
            update(JobItemLog)
            .where(JobItemLog.job_id == job_id, JobItemLog.status == ItemStatus.PENDING.value)
            .values(status=ItemStatus.FAILED.value, error=reason[:500], updated_at=utcnow())
        )
        metrics.count_pending_items_failed(connection, job)
        await connection.execute(
            update(JobLog)
            .where(JobLog.id == job_id)
            .values(failed_items=job.total_items - job.done_items)
        )
        await self._settle(connection, job, job.done_items)
        return True

    async def sweep_stale_jobs(self, now: datetime | None = None, limit: int = 100) -> int:
        """Cancel jobs never started and fail jobs without progress; returns how many."""
        now = now or utcnow()
        unstarted_before = now - timedelta(seconds=self.settings.stale_unstarted_job_seconds)
        stalled_before = now - timedelta(seconds=self.settings.stale_running_job_seconds)
        async with self.database.read() as connection:
            rows = (
                await connection.execute(
                    select(JobLog.id, JobLog.user_id, JobLog.status)
                    .where(
                        (
                            JobLog.status.in_([JobStatus.CREATED.value, JobStatus.UPLOADED.value])
                            & (JobLog.updated_at < unstarted_before)
                        )
                        | (
                            JobLog.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
                            & (JobLog.updated_at < stalled_before)
                        )
                    )
                    .limit(limit)
                )
            ).all()
        swept = 0
        for row in rows:
            swept += await self._sweep_one(row.id, row.user_id, unstarted_before, stalled_before)
        return swept

    async def _sweep_one(
        self, job_id: str, user_id: str, unstarted_before: datetime, stalled_before: datetime
    ) -> int:
        """Re-check under the lock, since the job may have moved since it was listed."""
        async with self.database.transaction() as connection:
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None:
                return 0
            status = JobStatus(job.status)
            if (
                status in (JobStatus.CREATED, JobStatus.UPLOADED)
                and job.updated_at < unstarted_before
            ):
                await self._transition(
                    connection, job_id, JobStatus.CANCELED, error="never started; canceled"
                )
                await self._settle(connection, job, job.done_items)
                return 1
            if status in (JobStatus.QUEUED, JobStatus.RUNNING) and job.updated_at < stalled_before:
                return int(await self.fail_job(connection, job_id, "no progress; timed out"))
        return 0

    async def _lock_owned(
        self, connection: AsyncConnection, user_id: str, job_id: str
    ) -> JobRecord:
        job = await repository.find_job(connection, job_id, user_id=user_id, lock=True)
        if job is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND)
        return job

    async def _transition(
        self, connection: AsyncConnection, job_id: str, target: JobStatus, **values: Any
    ) -> None:
        """Guarded `UPDATE`: no row changed means the move was not allowed."""
        allowed = [state.value for state in ALLOWED_FROM[target]]
        result = await connection.execute(
            update(JobLog)
            .where(JobLog.id == job_id, JobLog.status.in_(allowed))
            .values(status=target.value, updated_at=utcnow(), **values)
        )
        if result.rowcount != 1:
            current = (
                await connection.execute(select(JobLog.status).where(JobLog.id == job_id))
            ).scalar_one()
            raise _invalid_transition(current, target)
        metrics.count_job_status_change(connection, target)

    async def _settle(self, connection: AsyncConnection, job: JobRecord, done_items: int) -> int:
        """Refund every item not done, once; the slot is free because the job is terminal."""
        refund = job.total_items - done_items
        result = await connection.execute(
            update(JobLog)
            .where(JobLog.id == job.id, JobLog.settled_at.is_(None))
            .values(settled_at=utcnow(), refunded=refund)
        )
        if result.rowcount != 1:
            return 0
        await self.limiter.refund_for_job(connection, job.user_id, job.id, refund)
        return refund

    @staticmethod
    def _check_result_fits_job(job: JobRecord, result: ItemResult) -> None:
        if not 0 <= result.idx < job.total_items:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                f"idx must be between 0 and {job.total_items - 1}",
                {"field": "idx"},
            )
        if result.status is ItemStatus.DONE:
            expected_output = ObjectKeys.output(job.user_id, job.id, result.idx)
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

    @staticmethod
    async def _idempotency_key_seen(
        connection: AsyncConnection, job_id: str, idempotency_key: str
    ) -> bool:
        """Whether a result with this key was already recorded for the job."""
        seen = await connection.execute(
            select(JobItemLog.idx).where(
                JobItemLog.job_id == job_id, JobItemLog.idempotency_key == idempotency_key
            )
        )
        return seen.first() is not None

    @classmethod
    async def _result_already_known(
        cls, connection: AsyncConnection, job_id: str, result: ItemResult
    ) -> bool:
        """Whether this key was seen or this item already has a result (a replay)."""
        if await cls._idempotency_key_seen(connection, job_id, result.idempotency_key):
            return True
        decided = await connection.execute(
            select(JobItemLog.idx).where(
                JobItemLog.job_id == job_id,
                JobItemLog.idx == result.idx,
                JobItemLog.status != ItemStatus.PENDING.value,
            )
        )
        return decided.first() is not None

    @classmethod
    async def _store_item_result(
        cls, connection: AsyncConnection, job_id: str, result: ItemResult
    ) -> bool:
        """First result wins: False for a seen idempotency key or an item already decided."""
        if await cls._idempotency_key_seen(connection, job_id, result.idempotency_key):
            return False
        stored = await connection.execute(
            update(JobItemLog)
            .where(
                JobItemLog.job_id == job_id,
                JobItemLog.idx == result.idx,
                JobItemLog.status == ItemStatus.PENDING.value,
            )
            .values(
                status=result.status.value,
                error=(result.error or "failed")[:500]
                if result.status is ItemStatus.FAILED
                else None,
                idempotency_key=result.idempotency_key,
                updated_at=utcnow(),
            )
        )
        return stored.rowcount == 1


def _invalid_transition(current: str, target: JobStatus) -> ApiError:
    return ApiError(
        ErrorCode.JOB_INVALID_TRANSITION,
        f"Job is {current}; it cannot become {target.value}",
        {"status": current},
    )
