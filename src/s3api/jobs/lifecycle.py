"""JobLifecycle: the job state machine, item results and settlement.

The original kept each job in a Durable Object and flushed it to D1 later. Here every
method is one database transaction: the job row is locked (`FOR UPDATE` on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite), the transition is a guarded `UPDATE ... WHERE status IN
(allowed)`, and settlement happens in the same transaction as the terminal transition,
guarded by `settled_at IS NULL` and a unique `(job_id, kind)` ledger index.

A job's queue message stays until its consumer acknowledges it; when the job has ended in
the meantime, the delivery side drops the message instead of handing it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.output_formats import OutputFormat
from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import item_repository, removal_repository, repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.schemas import AnalysisStatus
from s3api.jobs.creation import (
    JobCreatedHook,
    JobMaker,
    Reply,
    Rerun,
    insert_created_job,
    insert_rerun_job,
)
from s3api.jobs.event_log import JobEventLog
from s3api.jobs.execution_plan import (
    ExecutionPlan,
    MessageBuilder,
    ask_for_output_set,
    store_selection,
)
from s3api.jobs.idempotency import Answer, IdempotencyKeys, IdempotentCall
from s3api.jobs.item_results import (
    ItemResult,
    ItemResultOutcome,
    check_result_fits_job,
    result_already_known,
    store_first_result,
    unstored_result_error,
)
from s3api.jobs.output_sets.messages import OutputSetPolicy
from s3api.jobs.records import JobRecord
from s3api.jobs.removal import ObjectRemover, unshared_object_keys
from s3api.jobs.settlement import end_output_set, settle
from s3api.jobs.states import ALLOWED_FROM, TERMINAL, ItemStatus, JobStatus
from s3api.jobs.transitions import invalid_transition, lock_owned, transition
from s3api.observability import metrics
from s3api.queue.message_queue import MessageQueue
from s3api.timeutil import utcnow
from s3api.users import repository as users_repository
from s3api.users.limits import UserLimiter
from s3api.users.repository import UserRecord


@dataclass(frozen=True)
class StaleJobPolicy:
    """How long a job may wait before the sweeper ends it."""

    unstarted_seconds: int
    running_seconds: int


class JobLifecycle:
    """The only code that changes job state, item results or a job's credits."""

    def __init__(
        self,
        database: Database,
        limiter: UserLimiter,
        queue: MessageQueue,
        stale: StaleJobPolicy,
        events: JobEventLog,
        idempotency: IdempotencyKeys | None = None,
        *,
        output_sets: OutputSetPolicy,
    ) -> None:
        self.database = database
        self.limiter = limiter
        self.queue = queue
        self.stale = stale
        self.events = events
        self.idempotency = idempotency or IdempotencyKeys()
        self.output_sets = output_sets

    async def create_job(
        self,
        user_id: str,
        preset: str,
        item_count: int,
        on_created: JobCreatedHook | None = None,
    ) -> JobRecord:
        """Reserve credits and a concurrency slot and create the job with its items, atomically.

        `on_created` writes what belongs to the new job (its webhook) in the same transaction.
        """
        async with self.database.transaction() as connection:
            user = await self.limiter.lock_user(connection, user_id)
            return await insert_created_job(
                connection, user, preset, item_count, on_created, self.limiter, self.events
            )

    async def create_job_replying(
        self,
        user_id: str,
        preset: str,
        item_count: int,
        reply: Reply,
        on_created: JobCreatedHook | None = None,
    ) -> Answer:
        """`create_job`, answered once per idempotency key."""

        async def make(connection: AsyncConnection, user: UserRecord) -> JobRecord:
            return await insert_created_job(
                connection, user, preset, item_count, on_created, self.limiter, self.events
            )

        return await self._answer_once(user_id, reply, make)

    async def remembered_answer(self, user_id: str, call: IdempotentCall) -> Answer | None:
        """The answer already given to this key, looked up before any validation."""
        async with self.database.read() as connection:
            return await self.idempotency.replay(connection, user_id, call)

    async def rerun_job(self, user_id: str, rerun: Rerun, reply: Reply) -> Answer:
        """A queued job over the inputs of a done or failed job, reserved like a create."""

        async def make(connection: AsyncConnection, user: UserRecord) -> JobRecord:
            return await insert_rerun_job(
                connection, user, rerun, self.limiter, self.queue, self.events
            )

        return await self._answer_once(user_id, reply, make)

    async def delete_job(self, user_id: str, job_id: str, remove_objects: ObjectRemover) -> None:
        """Forget a terminal job and remove the objects no kept job reads any more.

        The objects go before the commit: a store that fails leaves the job in place, so
        the deletion can be retried and no object is left behind without its job.
        """
        async with self.database.transaction() as connection:
            # the user's lock orders this against other deletions of jobs sharing inputs
            await self.limiter.lock_user(connection, user_id)
            job = await lock_owned(connection, user_id, job_id)
            if job.status not in TERMINAL:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    f"Job is {job.status.value}; only finished jobs can be deleted",
                    {"status": job.status.value},
                )
            keys = await unshared_object_keys(connection, job)
            await removal_repository.delete_job(connection, job_id)
            await remove_objects(keys)

    async def expire_job(
        self, job_id: str, ended_before: datetime, remove_objects: ObjectRemover
    ) -> bool:
        """Remove the objects of a terminal job that ended before `ended_before` and mark it
        expired, in one transaction (objects first, as for `delete_job`); False if not due."""
        async with self.database.transaction() as connection:
            listed = await repository.find_job(connection, job_id)
            if listed is None:
                return False
            # the user's lock orders this against deletions and re-runs sharing the inputs
            if await users_repository.find_user(connection, listed.user_id, lock=True) is None:
                return False
            job = await repository.find_job(connection, job_id, lock=True)
            if (
                job is None
                or job.status not in TERMINAL
                or job.expired_at is not None
                or job.updated_at >= ended_before
            ):
                return False
            keys = await unshared_object_keys(connection, job)
            await removal_repository.mark_expired(connection, job_id, utcnow())
            await remove_objects(keys)
        return True

    async def expirable_jobs(self, ended_before: datetime, limit: int) -> list[str]:
        """Terminal jobs not yet expired that ended before `ended_before`."""
        async with self.database.read() as connection:
            return await removal_repository.expirable_job_ids(connection, ended_before, limit)

    async def forget_expired_idempotency_keys(self) -> int:
        """Drop remembered create answers past their 24 hours."""
        async with self.database.transaction() as connection:
            return await self.idempotency.forget_expired(connection)

    async def cancel_active_jobs(self, connection: AsyncConnection, user_id: str) -> int:
        """Cancel and refund every unfinished job of the user inside the caller's transaction."""
        canceled = 0
        for job_id in await repository.active_job_ids(connection, user_id):
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None or job.status in TERMINAL:
                continue
            ended = await transition(connection, job_id, JobStatus.CANCELED)
            await settle(connection, self.limiter, job, job.done_items)
            await end_output_set(connection, ended, self.events, self.queue, self.output_sets)
            canceled += 1
        return canceled

    async def confirm_upload(self, user_id: str, job_id: str) -> None:
        """`created → uploaded`; the caller has verified every input beforehand."""
        async with self.database.transaction() as connection:
            await lock_owned(connection, user_id, job_id)
            uploaded = await transition(connection, job_id, JobStatus.UPLOADED)
            await self.events.record(connection, uploaded)

    async def queue_job(
        self,
        user_id: str,
        job_id: str,
        plan: ExecutionPlan,
        build_message: MessageBuilder,
    ) -> None:
        """`uploaded → queued` and the queue message, in one transaction (the outbox).

        The items' output keys take the extension of the plan's format in the same step, and
        the renders past each photo's first (drafts, options) are charged in it.
        """
        async with self.database.transaction() as connection:
            job = await lock_owned(connection, user_id, job_id)
            if job.status is not JobStatus.UPLOADED:
                raise invalid_transition(job.status, JobStatus.QUEUED)
            analysis = await analysis_repository.find_analysis(connection, job_id)
            if analysis is not None and analysis.status is AnalysisStatus.RUNNING:
                raise ApiError(ErrorCode.ANALYSIS_IN_PROGRESS, details={"status": "running"})
            queued = await transition(
                connection,
                job_id,
                JobStatus.QUEUED,
                concepts=plan.concepts,
                protect=plan.protect,
                rule_id=plan.rule_id,
                output_template=plan.output_template,
                output_format=plan.output_format.value,
            )
            if plan.output_format is not OutputFormat.PNG:
                await item_repository.set_output_keys(
                    connection, user_id, job_id, job.total_items, plan.output_format
                )
            extra = job.total_items * (plan.renders_per_photo - 1)
            if extra:
                # job, then user: the order a cancel of this job takes them in
                user = await self.limiter.lock_user(connection, user_id)
                await self.limiter.reserve_extra_renders(connection, user, job_id, extra)
            items = await item_repository.find_items(connection, job_id)
            await self.queue.enqueue(connection, job_id, build_message(job, items, plan))
            await store_selection(connection, job_id, items, plan)
            await ask_for_output_set(connection, job_id, items, plan)
            await self.events.record(connection, queued)

    async def record_item_result(self, job_id: str, result: ItemResult) -> ItemResultOutcome:
        """Record the first result of an item; settle when it was the last one."""
        async with self.database.transaction() as connection:
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            check_result_fits_job(job, result)
            status = job.status
            if status in TERMINAL:
                seen = await result_already_known(connection, job_id, result)
                return ItemResultOutcome(processed=False, duplicate=seen, job_status=status)
            if status in (JobStatus.CREATED, JobStatus.UPLOADED):
                raise invalid_transition(status, JobStatus.RUNNING)
            if result.unstored_objects:
                # a replay of a result accepted earlier answers as before; a new one is refused
                if await result_already_known(connection, job_id, result):
                    return ItemResultOutcome(processed=False, duplicate=True, job_status=status)
                raise unstored_result_error(result.unstored_objects)
            if not await store_first_result(connection, job_id, result):
                return ItemResultOutcome(processed=False, duplicate=True, job_status=status)
            metrics.count_items_finished(connection, result.status.value)
            done = job.done_items + (result.status is ItemStatus.DONE)
            failed = job.failed_items + (result.status is ItemStatus.FAILED)
            if done + failed < job.total_items:
                new_status = JobStatus.RUNNING
            else:
                new_status = JobStatus.DONE if done > 0 else JobStatus.FAILED
            if new_status is not status:
                await transition(connection, job_id, new_status)
            counted = await repository.set_item_counts(connection, job_id, done, failed, utcnow())
            if new_status in TERMINAL:
                await settle(connection, self.limiter, job, done)
            await self.events.record(
                connection,
                counted,
                item_indexes=[result.idx],
                status_changed=new_status is not status,
            )
            if new_status in TERMINAL:
                await end_output_set(connection, counted, self.events, self.queue, self.output_sets)
        return ItemResultOutcome(processed=True, duplicate=False, job_status=new_status)

    async def cancel_job(self, user_id: str, job_id: str) -> int:
        """Any non-terminal state → `canceled`, refunding every item not done; returns it."""
        async with self.database.transaction() as connection:
            job = await lock_owned(connection, user_id, job_id)
            canceled = await transition(connection, job_id, JobStatus.CANCELED)
            refunded = await settle(connection, self.limiter, job, job.done_items)
            await self.events.record(connection, canceled)
            await end_output_set(connection, canceled, self.events, self.queue, self.output_sets)
            return refunded

    async def fail_job(self, connection: AsyncConnection, job_id: str, reason: str) -> bool:
        """`queued | running → failed` inside the caller's transaction; False if not allowed."""
        job = await repository.find_job(connection, job_id, lock=True)
        if job is None or job.status not in ALLOWED_FROM[JobStatus.FAILED]:
            return False
        now = utcnow()
        await transition(
            connection, job_id, JobStatus.FAILED, error=reason[: repository.MAX_ERROR_LENGTH]
        )
        pending = [
            item.idx
            for item in await item_repository.find_items(connection, job_id)
            if item.status is ItemStatus.PENDING
        ]
        await item_repository.fail_pending_items(connection, job_id, reason, now)
        metrics.count_items_finished(connection, ItemStatus.FAILED.value, len(pending))
        failed = await repository.set_item_counts(
            connection, job_id, job.done_items, job.total_items - job.done_items, now
        )
        await settle(connection, self.limiter, job, job.done_items)
        await self.events.record(connection, failed, item_indexes=pending)
        await end_output_set(connection, failed, self.events, self.queue, self.output_sets)
        return True

    async def sweep_stale_jobs(self, now: datetime | None = None, limit: int = 100) -> int:
        """Cancel jobs never started and fail jobs without progress; returns how many."""
        now = now or utcnow()
        unstarted_before = now - timedelta(seconds=self.stale.unstarted_seconds)
        stalled_before = now - timedelta(seconds=self.stale.running_seconds)
        async with self.database.read() as connection:
            job_ids = await repository.stale_job_ids(
                connection, unstarted_before, stalled_before, limit
            )
        swept = 0
        for job_id in job_ids:
            swept += await self._sweep_one(job_id, unstarted_before, stalled_before)
        return swept

    async def _sweep_one(
        self, job_id: str, unstarted_before: datetime, stalled_before: datetime
    ) -> int:
        """Re-check under the lock, since the job may have moved since it was listed."""
        async with self.database.transaction() as connection:
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None:
                return 0
            if (
                job.status in (JobStatus.CREATED, JobStatus.UPLOADED)
                and job.updated_at < unstarted_before
            ):
                canceled = await transition(
                    connection, job_id, JobStatus.CANCELED, error="never started; canceled"
                )
                await settle(connection, self.limiter, job, job.done_items)
                await self.events.record(connection, canceled)
                await end_output_set(
                    connection, canceled, self.events, self.queue, self.output_sets
                )
                return 1
            if (
                job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
                and job.updated_at < stalled_before
            ):
                return int(await self.fail_job(connection, job_id, "no progress; timed out"))
        return 0

    async def _answer_once(self, user_id: str, reply: Reply, make: JobMaker) -> Answer:
        """Lock the user, replay a remembered answer or make the job and answer it, atomically."""
        async with self.database.transaction() as connection:
            user = await self.limiter.lock_user(connection, user_id)
            if reply.call is not None:
                remembered = await self.idempotency.replay(connection, user_id, reply.call)
                if remembered is not None:
                    return remembered
            job = await make(connection, user)
            answer = Answer(status_code=reply.status_code, data=await reply.render(job))
            if reply.call is not None:
                await self.idempotency.remember(connection, user_id, reply.call, answer)
            return answer
