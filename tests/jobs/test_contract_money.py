"""Money invariants of API.md §4 after whole scenarios, including racing requests."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from s3api.context import AppContext
from s3api.timeutil import utcnow
from tests.support.factories import ApiClient
from tests.support.jobs import (
    FLOOR_OAK,
    assert_money_invariants,
    data_of,
    ledger_of,
    post_job,
    pro_user,
    settled_at,
)


async def test_every_step_of_a_job_keeps_the_ledger_equal_to_the_balance(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    await assert_money_invariants(context, user.user_id)
    created = await api.create_job(user, 3)
    job_id = created["job_id"]
    await assert_money_invariants(context, user.user_id)
    await api.upload_all(created)
    data_of(await api.confirm(user, job_id))
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    await assert_money_invariants(context, user.user_id)
    for idx, status in enumerate(("done", "failed", "done")):
        data_of(await api.callback(job_id, user.user_id, idx, status))
        await assert_money_invariants(context, user.user_id)
    assert (await api.me(user))["credits"] == 10 - 3 + 1


async def test_several_jobs_of_one_user_settle_independently(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    done = (await api.queued_job(user, 2))["job_id"]
    failed = (await api.queued_job(user, 3))["job_id"]
    canceled = (await api.queued_job(user, 4))["job_id"]
    assert (await api.me(user))["credits"] == 1
    data_of(await api.callback(done, user.user_id, 0))
    data_of(await api.callback(failed, user.user_id, 0, "failed"))
    data_of(await api.callback(canceled, user.user_id, 3))
    data_of(await api.callback(done, user.user_id, 1, "failed"))
    data_of(await api.http.post(f"/jobs/{canceled}/cancel", headers=user.headers))
    for idx in (1, 2):
        data_of(await api.callback(failed, user.user_id, idx, "failed"))
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(done, "refund") == [1]
    assert ledger.of_job(failed, "refund") == [3]
    assert ledger.of_job(canceled, "refund") == [3]
    assert (await api.me(user))["credits"] == 1 + 1 + 3 + 3
    await assert_money_invariants(context, user.user_id)


async def test_a_terminal_job_is_settled_once_whatever_follows(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 1, "failed"))
    first = await settled_at(context, job_id)
    assert first is not None
    ledger = await ledger_of(context, user.user_id)
    await api.callback(job_id, user.user_id, 1, idempotency_key="retry")
    await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers)
    await context.lifecycle.sweep_stale_jobs(now=utcnow() + timedelta(days=3))
    assert await settled_at(context, job_id) == first
    assert await ledger_of(context, user.user_id) == ledger
    await assert_money_invariants(context, user.user_id)


async def test_racing_cancels_refund_once(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 5))["job_id"]
    responses = await asyncio.gather(
        *(api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [5]
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)


async def test_a_cancel_racing_the_last_result_settles_the_job_once(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    canceled, last = await asyncio.gather(
        api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers),
        api.callback(job_id, user.user_id, 1, "failed"),
    )
    assert last.status_code == 200
    status = (await api.job(user, job_id))["status"]
    if canceled.status_code == 200:
        assert status == "canceled"
        assert last.json()["data"]["processed"] is False
    else:
        assert canceled.status_code == 409
        assert status == "done"
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [1]
    assert (await api.me(user))["credits"] == 9
    await assert_money_invariants(context, user.user_id)


async def test_racing_last_results_settle_the_job_once(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 3))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, "failed"))
    data_of(await api.callback(job_id, user.user_id, 1, "failed"))
    responses = await asyncio.gather(
        *(
            api.callback(job_id, user.user_id, 2, "failed", idempotency_key=f"attempt-{n}")
            for n in range(12)
        )
    )
    assert [r.json()["data"]["processed"] for r in responses].count(True) == 1
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [3]
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)


async def test_racing_creates_never_overdraw_the_credits(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    responses = await asyncio.gather(
        *(post_job(api, user, {"preset": "interior", "item_count": 4}) for _ in range(6))
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 2
    assert set(codes) <= {201, 402, 429}
    assert (await api.me(user))["credits"] == 2
    await assert_money_invariants(context, user.user_id)


async def test_refused_requests_move_no_credits(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    ledger = await ledger_of(context, user.user_id)
    await api.confirm(user, created["job_id"])
    await api.execute(user, created["job_id"], FLOOR_OAK)
    await post_job(api, user, {"preset": "interior", "item_count": 1})
    await api.callback(created["job_id"], user.user_id, 0)
    assert await ledger_of(context, user.user_id) == ledger
    assert (await api.me(user))["credits"] == 8
    await assert_money_invariants(context, user.user_id)


async def test_racing_results_for_different_items_are_all_counted(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 10))["job_id"]
    statuses = ["done"] * 7 + ["failed"] * 3
    responses = await asyncio.gather(
        *(api.callback(job_id, user.user_id, idx, status) for idx, status in enumerate(statuses))
    )
    assert all(r.json()["data"]["processed"] for r in responses), [r.text for r in responses]
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"], job["failed_items"]) == ("done", 7, 3)
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [3]
    assert (await api.me(user))["credits"] == 3
    await assert_money_invariants(context, user.user_id)
