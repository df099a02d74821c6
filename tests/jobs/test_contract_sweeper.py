"""The stale-job sweeper (API.md §4): unstarted jobs canceled, stalled jobs failed, refunds."""

from __future__ import annotations

from datetime import timedelta

from s3api.context import AppContext
from s3api.timeutil import utcnow
from tests.support.factories import ApiClient
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    item_statuses,
    ledger_of,
    pro_user,
    pull,
    settled_at,
    uploaded_job,
)


async def test_created_and_uploaded_jobs_a_day_old_are_canceled_and_refunded(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    created = (await api.create_job(user, 2))["job_id"]
    uploaded = await uploaded_job(api, user, 3)
    assert (await api.me(user))["credits"] == 5
    swept = await context.lifecycle.sweep_stale_jobs(now=utcnow() + timedelta(hours=25))
    assert swept == 2
    for job_id, items in ((created, 2), (uploaded, 3)):
        assert (await api.job(user, job_id))["status"] == "canceled"
        assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [items]
    me = await api.me(user)
    assert (me["credits"], me["concurrent_jobs"]) == (10, 0)
    await assert_money_invariants(context, user.user_id)


async def test_stalled_running_job_is_failed_for_its_remaining_items(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 3))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    stalled = utcnow() + timedelta(seconds=context.settings.stale_running_job_seconds + 60)
    assert await context.lifecycle.sweep_stale_jobs(now=stalled) == 1
    job = await api.job(user, job_id)
    assert job["status"] == "failed"
    assert (job["done_items"], job["failed_items"]) == (1, 2)
    assert [item["status"] for item in job["items"]] == ["done", "failed", "failed"]
    assert all(item["error"] for item in job["items"][1:])
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [2]
    assert (await api.me(user))["credits"] == 9
    await assert_money_invariants(context, user.user_id)


async def test_stalled_queued_job_is_failed_and_fully_refunded(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    stalled = utcnow() + timedelta(seconds=context.settings.stale_running_job_seconds + 60)
    assert await context.lifecycle.sweep_stale_jobs(now=stalled) == 1
    assert (await api.job(user, job_id))["status"] == "failed"
    assert await item_statuses(context, job_id) == ["failed", "failed"]
    me = await api.me(user)
    assert (me["credits"], me["concurrent_jobs"]) == (10, 0)
    assert await pull(api) == []
    await assert_money_invariants(context, user.user_id)


async def test_jobs_younger_than_their_limits_are_left_alone(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    created = (await api.create_job(user, 1))["job_id"]
    uploaded = await uploaded_job(api, user, 1)
    running = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(running, user.user_id, 0))
    soon = utcnow() + timedelta(seconds=context.settings.stale_running_job_seconds - 60)
    assert await context.lifecycle.sweep_stale_jobs(now=soon) == 0
    statuses = [(await api.job(user, job_id))["status"] for job_id in (created, uploaded, running)]
    assert statuses == ["created", "uploaded", "running"]
    assert (await api.me(user))["credits"] == 10 - 4


async def test_unstarted_jobs_outlive_the_running_timeout(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    created = (await api.create_job(user, 1))["job_id"]
    queued = (await api.queued_job(user, 1))["job_id"]
    later = utcnow() + timedelta(seconds=context.settings.stale_running_job_seconds + 60)
    assert await context.lifecycle.sweep_stale_jobs(now=later) == 1
    assert (await api.job(user, created))["status"] == "created"
    assert (await api.job(user, queued))["status"] == "failed"


async def test_sweeping_twice_changes_nothing_more(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    created = (await api.create_job(user, 2))["job_id"]
    queued = (await api.queued_job(user, 3))["job_id"]
    later = utcnow() + timedelta(hours=25)
    assert await context.lifecycle.sweep_stale_jobs(now=later) == 2
    ledger = await ledger_of(context, user.user_id)
    settled = [await settled_at(context, job_id) for job_id in (created, queued)]
    assert await context.lifecycle.sweep_stale_jobs(now=later + timedelta(hours=1)) == 0
    assert await ledger_of(context, user.user_id) == ledger
    assert [await settled_at(context, job_id) for job_id in (created, queued)] == settled
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)


async def test_a_swept_job_frees_the_slot_for_a_new_one(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    await api.create_job(user, 10)
    await context.lifecycle.sweep_stale_jobs(now=utcnow() + timedelta(hours=25))
    assert (await api.create_job(user, 10))["status"] == "created"


async def test_a_late_result_for_a_swept_job_changes_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    await context.lifecycle.sweep_stale_jobs(now=utcnow() + timedelta(hours=2))
    late = data_of(await api.callback(job_id, user.user_id, 0))
    assert (late["processed"], late["job_status"]) == (False, "failed")
    assert (await api.job(user, job_id))["done_items"] == 0
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)
