"""The job lifecycle's guards, called directly on a real database (no HTTP in between)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import BillingEvent, JobItem
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import item_repository, repository
from s3api.jobs.execution_plan import ExecutionPlan
from s3api.jobs.item_results import ItemResult
from s3api.jobs.records import JobRecord
from s3api.jobs.states import ItemStatus, JobStatus

PLAN = ExecutionPlan(
    concepts={"Floor": {"action": "recolor", "value": "oak_a"}},
    protect=[],
    rule_id=None,
    output_template=None,
)


async def _user(context: AppContext) -> str:
    return (await context.auth.sign_in_anonymous(None)).user_id


async def _job(context: AppContext, user_id: str, items: int = 2) -> JobRecord:
    return await context.lifecycle.create_job(user_id, "interior", items)


async def _queued(context: AppContext, user_id: str, items: int = 2) -> JobRecord:
    job = await _job(context, user_id, items)
    await context.lifecycle.confirm_upload(user_id, job.id)
    await context.lifecycle.queue_job(user_id, job.id, PLAN, context.jobs.build_message)
    return job


async def _status(context: AppContext, job_id: str) -> JobStatus:
    async with context.database.read() as connection:
        job = await repository.find_job(connection, job_id)
    assert job is not None
    return job.status


def _result(idx: int, key: str, status: ItemStatus = ItemStatus.DONE) -> ItemResult:
    return ItemResult(idx=idx, status=status, idempotency_key=key)


def _refused(error: pytest.ExceptionInfo[ApiError], status: JobStatus) -> None:
    assert error.value.code is ErrorCode.JOB_INVALID_TRANSITION
    assert error.value.details == {"status": status.value}


async def test_a_job_cannot_be_queued_before_its_uploads_are_confirmed(
    context: AppContext,
) -> None:
    user_id = await _user(context)
    job = await _job(context, user_id)
    with pytest.raises(ApiError) as refused:
        await context.lifecycle.queue_job(user_id, job.id, PLAN, context.jobs.build_message)
    _refused(refused, JobStatus.CREATED)
    assert await _status(context, job.id) is JobStatus.CREATED


async def test_uploads_are_confirmed_once(context: AppContext) -> None:
    user_id = await _user(context)
    job = await _job(context, user_id)
    await context.lifecycle.confirm_upload(user_id, job.id)
    with pytest.raises(ApiError) as refused:
        await context.lifecycle.confirm_upload(user_id, job.id)
    _refused(refused, JobStatus.UPLOADED)


async def test_another_users_job_is_not_found(context: AppContext) -> None:
    job = await _job(context, await _user(context))
    with pytest.raises(ApiError) as missing:
        await context.lifecycle.cancel_job(await _user(context), job.id)
    assert missing.value.code is ErrorCode.JOB_NOT_FOUND


async def test_a_result_before_the_job_is_queued_is_refused(context: AppContext) -> None:
    user_id = await _user(context)
    job = await _job(context, user_id)
    with pytest.raises(ApiError) as refused:
        await context.lifecycle.record_item_result(job.id, _result(0, "k"))
    _refused(refused, JobStatus.CREATED)


async def test_the_first_result_of_an_item_wins(context: AppContext) -> None:
    user_id = await _user(context)
    job = await _queued(context, user_id)
    first = await context.lifecycle.record_item_result(job.id, _result(0, "a"))
    second = await context.lifecycle.record_item_result(job.id, _result(0, "b", ItemStatus.FAILED))
    assert (first.processed, first.job_status) == (True, JobStatus.RUNNING)
    assert (second.processed, second.duplicate) == (False, True)
    async with context.database.read() as connection:
        [item] = [i for i in await item_repository.find_items(connection, job.id) if i.idx == 0]
    assert item.status is ItemStatus.DONE


async def test_the_last_result_settles_once_and_a_cancel_after_it_is_refused(
    context: AppContext,
) -> None:
    user_id = await _user(context)
    job = await _queued(context, user_id)
    await context.lifecycle.record_item_result(job.id, _result(0, "a"))
    last = await context.lifecycle.record_item_result(job.id, _result(1, "b", ItemStatus.FAILED))
    assert last.job_status is JobStatus.DONE
    with pytest.raises(ApiError) as refused:
        await context.lifecycle.cancel_job(user_id, job.id)
    _refused(refused, JobStatus.DONE)
    assert await _ledger_kinds(context, job.id) == ["refund", "reserve"]


async def test_fail_job_only_moves_queued_or_running_jobs(context: AppContext) -> None:
    user_id = await _user(context)
    created = await _job(context, user_id, 1)
    async with context.database.transaction() as connection:
        assert not await context.lifecycle.fail_job(connection, created.id, "why")
    await context.lifecycle.cancel_job(user_id, created.id)
    queued = await _queued(context, user_id, 3)
    await context.lifecycle.record_item_result(queued.id, _result(0, "a"))
    async with context.database.transaction() as connection:
        assert await context.lifecycle.fail_job(connection, queued.id, "gave up")
    async with context.database.transaction() as connection:
        assert not await context.lifecycle.fail_job(connection, queued.id, "again")
    async with context.database.read() as connection:
        job = await repository.find_job(connection, queued.id)
        failed = await connection.execute(
            select(func.count())
            .select_from(JobItem)
            .where(JobItem.job_id == queued.id, JobItem.error == "gave up")
        )
    assert job is not None
    assert (job.status, job.done_items, job.failed_items, job.refunded) == (
        JobStatus.FAILED,
        1,
        2,
        2,
    )
    assert failed.scalar_one() == 2
    assert await _ledger_kinds(context, queued.id) == ["refund", "reserve"]


async def _ledger_kinds(context: AppContext, job_id: str) -> list[str]:
    async with context.database.read() as connection:
        rows = await connection.execute(
            select(BillingEvent.kind).where(BillingEvent.job_id == job_id)
        )
        return sorted(row.kind for row in rows)
