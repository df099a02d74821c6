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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.output_formats import OutputFormat
from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.jobs import repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.messages import StoredMasks
from s3api.jobs.analysis.schemas import AnalysisStatus
from s3api.jobs.analysis.selection import SelectionByInput
from s3api.jobs.event_log import EventKind, JobEventLog
from s3api.jobs.idempotency import Answer, IdempotencyKeys, IdempotentCall
from s3api.jobs.output_sets import keys as set_keys
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.messages import OutputSetPolicy, output_set_message
from s3api.jobs.output_sets.plan import ASSEMBLED_TEMPLATES, planned_files
from s3api.jobs.output_sets.schemas import OutputSetStatus
from s3api.jobs.repository import ItemRecord, JobRecord
from s3api.jobs.states import ALLOWED_FROM, TERMINAL, ItemStatus, JobStatus
from s3api.observability import metrics
from s3api.queue.message_queue import MessageQueue
from s3api.storage.keys import ObjectKeys
from s3api.timeutil import utcnow
from s3api.users import repository as users_repository
from s3api.users.limits import UserLimiter
from s3api.users.repository import UserRecord


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


@dataclass(frozen=True)
class ExecutionPlan:
    """Validated edits for `uploaded → queued`."""

    concepts: dict[str, dict[str, str | None]]
    protect: list[str]
    rule_id: str | None
    output_template: str | None
    watermark: dict[str, Any] | None = None
    """The free plan's watermark spec for the queue message, or None for clean results."""
    output_format: OutputFormat = OutputFormat.PNG
    # the stored label maps of the photos' inputs, and the instance selection, by input key
    stored_masks: StoredMasks = field(default_factory=dict)
    selection: SelectionByInput = field(default_factory=dict)


@dataclass(frozen=True)
class StaleJobPolicy:
    """How long a job may wait before the sweeper ends it."""

    unstarted_seconds: int
    running_seconds: int


MessageBuilder = Callable[[JobRecord, list[ItemRecord], ExecutionPlan], dict[str, Any]]
JobCreatedHook = Callable[[AsyncConnection, str], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """How a create answers: rendered in its transaction, kept under an idempotency key."""

    status_code: int
    render: Callable[[JobRecord], Awaitable[dict[str, Any]]]
    call: IdempotentCall | None = None


@dataclass(frozen=True)
class Rerun:
    """A new job over a finished job's inputs, with its validated edits."""

    parent_job_id: str
    plan: ExecutionPlan
    only_failed: bool
    build_message: MessageBuilder


_JobMaker = Callable[[AsyncConnection, UserRecord], Awaitable[JobRecord]]
ObjectRemover = Callable[[list[str]], Awaitable[None]]
"""Removes objects from storage (`ObjectStorage.delete_many`)."""


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
            return await self._create(connection, user, preset, item_count, on_created)

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
            return await self._create(connection, user, preset, item_count, on_created)

        return await self._answer_once(user_id, reply, make)

    async def remembered_answer(self, user_id: str, call: IdempotentCall) -> Answer | None:
        """The answer already given to this key, looked up before any validation."""
        async with self.database.read() as connection:
            return await self.idempotency.replay(connection, user_id, call)

    async def rerun_job(self, user_id: str, rerun: Rerun, reply: Reply) -> Answer:
        """A queued job over the inputs of a done or failed job, reserved like a create."""

        async def make(connection: AsyncConnection, user: UserRecord) -> JobRecord:
            return await self._rerun(connection, user, rerun)

        return await self._answer_once(user_id, reply, make)

    async def delete_job(self, user_id: str, job_id: str, remove_objects: ObjectRemover) -> None:
        """Forget a terminal job and remove the objects no kept job reads any more.

        The objects go before the commit: a store that fails leaves the job in place, so
        the deletion can be retried and no object is left behind without its job.
        """
        async with self.database.transaction() as connection:
            # the user's lock orders this against other deletions of jobs sharing inputs
            await self.limiter.lock_user(connection, user_id)
            job = await self._lock_owned(connection, user_id, job_id)
            if job.status not in TERMINAL:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    f"Job is {job.status.value}; only finished jobs can be deleted",
                    {"status": job.status.value},
                )
            keys = await _unshared_object_keys(connection, job)
            await repository.delete_job(connection, job_id)
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
            keys = await _unshared_object_keys(connection, job)
            await repository.mark_expired(connection, job_id, utcnow())
            await remove_objects(keys)
        return True

    async def expirable_jobs(self, ended_before: datetime, limit: int) -> list[str]:
        """Terminal jobs not yet expired that ended before `ended_before`."""
        async with self.database.read() as connection:
            return await repository.expirable_job_ids(connection, ended_before, limit)

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
            ended = await self._transition(connection, job_id, JobStatus.CANCELED)
            await self._settle(connection, job, job.done_items)
            await self._end_output_set(connection, ended)
            canceled += 1
        return canceled

    async def confirm_upload(self, user_id: str, job_id: str) -> None:
        """`created → uploaded`; the caller has verified every input beforehand."""
        async with self.database.transaction() as connection:
            await self._lock_owned(connection, user_id, job_id)
            uploaded = await self._transition(connection, job_id, JobStatus.UPLOADED)
            await self.events.record(connection, uploaded)

    async def queue_job(
        self,
        user_id: str,
        job_id: str,
        plan: ExecutionPlan,
        build_message: MessageBuilder,
    ) -> None:
        """`uploaded → queued` and the queue message, in one transaction (the outbox).

        The items' output keys take the extension of the plan's format in the same step.
        """
        async with self.database.transaction() as connection:
            job = await self._lock_owned(connection, user_id, job_id)
            if job.status is not JobStatus.UPLOADED:
                raise _invalid_transition(job.status, JobStatus.QUEUED)
            analysis = await analysis_repository.find_analysis(connection, job_id)
            if analysis is not None and analysis.status is AnalysisStatus.RUNNING:
                raise ApiError(ErrorCode.ANALYSIS_IN_PROGRESS, details={"status": "running"})
            queued = await self._transition(
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
                await repository.set_output_keys(
                    connection, user_id, job_id, job.total_items, plan.output_format
                )
            items = await repository.find_items(connection, job_id)
            await self.queue.enqueue(connection, job_id, build_message(job, items, plan))
            await _store_selection(connection, job_id, items, plan)
            await _ask_for_output_set(connection, job_id, plan)
            await self.events.record(connection, queued)

    async def record_item_result(self, job_id: str, result: ItemResult) -> ItemResultOutcome:
        """Record the first result of an item; settle when it was the last one."""
        async with self.database.transaction() as connection:
            job = await repository.find_job(connection, job_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            _check_result_fits_job(job, result)
            status = job.status
            if status in TERMINAL:
                seen = await _result_already_known(connection, job_id, result)
                return ItemResultOutcome(processed=False, duplicate=seen, job_status=status)
            if status in (JobStatus.CREATED, JobStatus.UPLOADED):
                raise _invalid_transition(status, JobStatus.RUNNING)
            if result.unstored_objects:
                # a replay of a result accepted earlier answers as before; a new one is refused
                if await _result_already_known(connection, job_id, result):
                    return ItemResultOutcome(processed=False, duplicate=True, job_status=status)
                raise _unstored_result_error(result.unstored_objects)
            if not await _store_item_result(connection, job_id, result):
                return ItemResultOutcome(processed=False, duplicate=True, job_status=status)
            metrics.count_items_finished(connection, result.status.value)
            done = job.done_items + (result.status is ItemStatus.DONE)
            failed = job.failed_items + (result.status is ItemStatus.FAILED)
            if done + failed < job.total_items:
                new_status = JobStatus.RUNNING
            else:
                new_status = JobStatus.DONE if done > 0 else JobStatus.FAILED
            if new_status is not status:
                await self._transition(connection, job_id, new_status)
            counted = await repository.set_item_counts(connection, job_id, done, failed, utcnow())
            if new_status in TERMINAL:
                await self._settle(connection, job, done)
            await self.events.record(
                connection,
                counted,
                item_indexes=[result.idx],
                status_changed=new_status is not status,
            )
            if new_status in TERMINAL:
                await self._end_output_set(connection, counted)
        return ItemResultOutcome(processed=True, duplicate=False, job_status=new_status)

    async def cancel_job(self, user_id: str, job_id: str) -> int:
        """Any non-terminal state → `canceled`, refunding every item not done; returns it."""
        async with self.database.transaction() as connection:
            job = await self._lock_owned(connection, user_id, job_id)
            canceled = await self._transition(connection, job_id, JobStatus.CANCELED)
            refunded = await self._settle(connection, job, job.done_items)
            await self.events.record(connection, canceled)
            await self._end_output_set(connection, canceled)
            return refunded

    async def fail_job(self, connection: AsyncConnection, job_id: str, reason: str) -> bool:
        """`queued | running → failed` inside the caller's transaction; False if not allowed."""
        job = await repository.find_job(connection, job_id, lock=True)
        if job is None or job.status not in ALLOWED_FROM[JobStatus.FAILED]:
            return False
        now = utcnow()
        await self._transition(
            connection, job_id, JobStatus.FAILED, error=reason[: repository.MAX_ERROR_LENGTH]
        )
        pending = [
            item.idx
            for item in await repository.find_items(connection, job_id)
            if item.status is ItemStatus.PENDING
        ]
        await repository.fail_pending_items(connection, job_id, reason, now)
        metrics.count_items_finished(connection, ItemStatus.FAILED.value, len(pending))
        failed = await repository.set_item_counts(
            connection, job_id, job.done_items, job.total_items - job.done_items, now
        )
        await self._settle(connection, job, job.done_items)
        await self.events.record(connection, failed, item_indexes=pending)
        await self._end_output_set(connection, failed)
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
                canceled = await self._transition(
                    connection, job_id, JobStatus.CANCELED, error="never started; canceled"
                )
                await self._settle(connection, job, job.done_items)
                await self.events.record(connection, canceled)
                await self._end_output_set(connection, canceled)
                return 1
            if (
                job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
                and job.updated_at < stalled_before
            ):
                return int(await self.fail_job(connection, job_id, "no progress; timed out"))
        return 0

    async def _answer_once(self, user_id: str, reply: Reply, make: _JobMaker) -> Answer:
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

    async def _create(
        self,
        connection: AsyncConnection,
        user: UserRecord,
        preset: str,
        item_count: int,
        on_created: JobCreatedHook | None,
    ) -> JobRecord:
        """Reserve for and insert a `created` job; the caller holds the user's lock."""
        job_id = new_id()
        active = await repository.count_active_jobs(connection, user.id)
        await self.limiter.reserve_for_job(
            connection,
            user,
            job_id,
            item_count,
            active,
            list_active_jobs=lambda: repository.list_active_jobs(connection, user.id),
        )
        await repository.insert_job(connection, job_id, user.id, preset, item_count, utcnow())
        metrics.count_job_created(connection)
        if on_created is not None:
            await on_created(connection, job_id)
        job = await repository.find_job(connection, job_id)
        assert job is not None
        await self.events.record(connection, job)
        return job

    async def _rerun(
        self, connection: AsyncConnection, user: UserRecord, rerun: Rerun
    ) -> JobRecord:
        parent = await self._lock_owned(connection, user.id, rerun.parent_job_id)
        if parent.status not in (JobStatus.DONE, JobStatus.FAILED):
            raise ApiError(
                ErrorCode.JOB_INVALID_TRANSITION,
                f"Job is {parent.status.value}; only done or failed jobs can be re-run",
                {"status": parent.status.value},
            )
        if parent.expired_at is not None:
            raise ApiError(ErrorCode.INPUTS_EXPIRED)
        chosen = [
            item
            for item in await repository.find_items(connection, parent.id)
            if not rerun.only_failed or item.status is ItemStatus.FAILED
        ]
        if not chosen:
            raise ApiError(
                ErrorCode.JOB_INVALID_TRANSITION,
                "The job has no failed items to re-run",
                {"status": parent.status.value, "failed_items": 0},
            )
        job_id = new_id()
        active = await repository.count_active_jobs(connection, user.id)
        await self.limiter.reserve_for_job(
            connection,
            user,
            job_id,
            len(chosen),
            active,
            list_active_jobs=lambda: repository.list_active_jobs(connection, user.id),
        )
        plan = rerun.plan
        await repository.insert_job(
            connection,
            job_id,
            user.id,
            parent.preset,
            len(chosen),
            utcnow(),
            input_keys=[item.input_key for item in chosen],
            status=JobStatus.QUEUED,
            parent_job_id=parent.id,
            concepts=plan.concepts,
            protect=plan.protect,
            rule_id=plan.rule_id,
            output_template=plan.output_template,
            output_format=plan.output_format,
        )
        metrics.count_job_created(connection)
        job = await repository.find_job(connection, job_id)
        assert job is not None
        await self.events.record(connection, job)
        items = await repository.find_items(connection, job_id)
        await self.queue.enqueue(connection, job_id, rerun.build_message(job, items, plan))
        await _store_selection(connection, job_id, items, plan)
        await _ask_for_output_set(connection, job_id, plan)
        return job

    @staticmethod
    async def _lock_owned(connection: AsyncConnection, user_id: str, job_id: str) -> JobRecord:
        job = await repository.find_job(connection, job_id, user_id=user_id, lock=True)
        if job is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND)
        return job

    @staticmethod
    async def _transition(
        connection: AsyncConnection, job_id: str, target: JobStatus, **values: Any
    ) -> JobRecord:
        """The job as the move left it; no row changed means the move was not allowed:
        `JOB_INVALID_TRANSITION`."""
        moved = await repository.transition(connection, job_id, target, utcnow(), **values)
        if isinstance(moved, JobStatus):
            raise _invalid_transition(moved, target)
        if target in TERMINAL:
            metrics.count_job_finished(connection, target.value)
        return moved

    async def _end_output_set(self, connection: AsyncConnection, job: JobRecord) -> None:
        """A job that just ended: queue its set's assembly, in the same transaction, when a
        photo is done; otherwise the set fails now, with its event."""
        record = await sets_repository.find_set(connection, job.id)
        if record is None or record.status is not OutputSetStatus.PENDING or record.queued:
            return
        now = utcnow()
        reason = None
        if job.status is JobStatus.CANCELED:
            reason = "the job was canceled"
        elif job.done_items == 0:
            reason = "no photo was done"
        elif record.template not in ASSEMBLED_TEMPLATES:
            reason = "sets of this template are not assembled yet"
        if reason is not None:
            await sets_repository.mark_failed(connection, job.id, reason, None, now)
            data = {"template": record.template, "status": "failed", "error": reason}
            await self.events.append(connection, job, [(EventKind.OUTPUT_SET, data)])
            return
        done = [
            item
            for item in await repository.find_items(connection, job.id)
            if item.status is ItemStatus.DONE
        ]
        files = planned_files(record.template, job, done)
        zip_key = set_keys.zip_key(job.user_id, job.id)
        await sets_repository.mark_queued(connection, job.id, files, zip_key, now)
        body = output_set_message(
            job, done, record, files, zip_key, self.output_sets.public_base_url
        )
        await self.queue.enqueue(connection, record.set_id, body)

    async def _settle(self, connection: AsyncConnection, job: JobRecord, done_items: int) -> int:
        """Refund every item that no GPU work used (neither done nor analysed), once; the
        slot is free because the job is terminal, and a running analysis ends with it."""
        now = utcnow()
        await analysis_repository.end_run(connection, job.id, "the job ended first", now)
        analysed = await analysis_repository.count_analysed_not_done(connection, job.id)
        refund = job.total_items - done_items - analysed
        if not await repository.mark_settled(connection, job.id, refund, now):
            return 0
        await self.limiter.refund_for_job(connection, job.user_id, job.id, refund)
        return refund


async def _unshared_object_keys(connection: AsyncConnection, job: JobRecord) -> list[str]:
    """The job's outputs, previews, analysis overlays and set files, and the inputs that no
    other kept job reads with their label maps and instances files (whose records go with
    them)."""
    items = await repository.find_items(connection, job.id)
    inputs = sorted({item.input_key for item in items})
    shared = await repository.inputs_used_elsewhere(connection, inputs, job.id)
    unshared = [key for key in inputs if key not in shared]
    keys = list(unshared)
    for item in items:
        keys += [item.output_key, item.preview_key]
    keys += await analysis_repository.take_mask_keys(
        connection, job.user_id, job.id, len(items), unshared
    )
    output_set = await sets_repository.find_set(connection, job.id)
    if output_set is not None:
        keys += sets_repository.object_keys(output_set)
    return keys


async def _ask_for_output_set(
    connection: AsyncConnection, job_id: str, plan: ExecutionPlan
) -> None:
    """A pending set for a job queued with a template, holding the watermark chosen now."""
    if plan.output_template is not None:
        await sets_repository.insert_set(
            connection, job_id, new_id(), plan.output_template, plan.watermark, utcnow()
        )


async def _store_selection(
    connection: AsyncConnection, job_id: str, items: list[ItemRecord], plan: ExecutionPlan
) -> None:
    """Keep the instance selection of a job being queued, by the job's own idx."""
    chosen = {
        str(item.idx): plan.selection[item.input_key]
        for item in items
        if item.input_key in plan.selection
    }
    if chosen:
        await analysis_repository.store_selection(connection, job_id, chosen)


def _check_result_fits_job(job: JobRecord, result: ItemResult) -> None:
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


async def _result_already_known(
    connection: AsyncConnection, job_id: str, result: ItemResult
) -> bool:
    """Whether this key was seen or this item already has a result (a replay)."""
    if await repository.idempotency_key_seen(connection, job_id, result.idempotency_key):
        return True
    return await repository.item_decided(connection, job_id, result.idx)


async def _store_item_result(connection: AsyncConnection, job_id: str, result: ItemResult) -> bool:
    """First result wins: False for a seen idempotency key or an item already decided."""
    if await repository.idempotency_key_seen(connection, job_id, result.idempotency_key):
        return False
    error = (result.error or "failed") if result.status is ItemStatus.FAILED else None
    return await repository.store_item_result(
        connection, job_id, result.idx, result.status, error, result.idempotency_key, utcnow()
    )


def _unstored_result_error(keys: tuple[str, ...]) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "The result objects of a done item must be stored before it is reported",
        {
            "fields": [{"field": "output_key/preview_key", "message": "not stored"}],
            "unstored_keys": list(keys),
        },
    )


def _invalid_transition(current: JobStatus, target: JobStatus) -> ApiError:
    return ApiError(
        ErrorCode.JOB_INVALID_TRANSITION,
        f"Job is {current.value}; it cannot become {target.value}",
        {"status": current.value},
    )
