"""`POST /jobs/{id}/cancel` (API.md §3.15, §4, §6): refunds, slots, late results, the queue."""

from __future__ import annotations

import httpx

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    ledger_of,
    pull,
    queue_bodies,
    settled_at,
    uploaded_job,
)


async def cancel(api: ApiClient, user: SignedIn, job_id: str) -> httpx.Response:
    """`POST /jobs/{id}/cancel` with the mobile client's empty JSON body."""
    return await api.http.post(
        f"/jobs/{job_id}/cancel", headers={**user.headers, "Content-Type": "application/json"}
    )


async def assert_canceled_with_refund(
    api: ApiClient, context: AppContext, user: SignedIn, job_id: str, refunded: int
) -> None:
    """The cancel answer, the job's status and the ledger all agree on the refund."""
    data = data_of(await cancel(api, user, job_id))
    assert data == {"canceled": True, "status": "canceled", "refunded": refunded}
    assert (await api.job(user, job_id))["status"] == "canceled"
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == (
        [refunded] if refunded else []
    )
    await assert_money_invariants(context, user.user_id)


async def test_cancel_of_a_created_job_refunds_every_item(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.create_job(user, 3))["job_id"]
    await assert_canceled_with_refund(api, context, user, job_id, 3)
    assert (await api.me(user))["credits"] == 10


async def test_cancel_of_an_uploaded_job_refunds_every_item(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    await assert_canceled_with_refund(api, context, user, job_id, 2)
    assert (await api.me(user))["credits"] == 10


async def test_cancel_of_a_queued_job_refunds_every_item(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 4))["job_id"]
    await assert_canceled_with_refund(api, context, user, job_id, 4)
    assert (await api.me(user))["credits"] == 10


async def test_cancel_of_a_running_job_refunds_the_items_not_done(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 4))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 1, "failed"))
    await assert_canceled_with_refund(api, context, user, job_id, 3)
    assert (await api.me(user))["credits"] == 10 - 1


async def test_cancel_of_a_terminal_job_is_an_invalid_transition(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    done = (await api.queued_job(user, 1))["job_id"]
    data_of(await api.callback(done, user.user_id, 0))
    failed = (await api.queued_job(user, 1))["job_id"]
    data_of(await api.callback(failed, user.user_id, 0, "failed"))
    canceled = (await api.create_job(user, 1))["job_id"]
    data_of(await cancel(api, user, canceled))
    credits = (await api.me(user))["credits"]
    for job_id, status in ((done, "done"), (failed, "failed"), (canceled, "canceled")):
        settled = await settled_at(context, job_id)
        error_of(await cancel(api, user, job_id), 409, "JOB_INVALID_TRANSITION")
        assert (await api.job(user, job_id))["status"] == status
        assert await settled_at(context, job_id) == settled
    assert (await api.me(user))["credits"] == credits == 10 - 1
    await assert_money_invariants(context, user.user_id)


async def test_cancel_frees_the_concurrency_slot_at_once(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await cancel(api, user, job_id))
    assert (await api.me(user))["concurrent_jobs"] == 0
    assert (await api.create_job(user, 10))["status"] == "created"


async def test_a_late_result_after_cancel_changes_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await cancel(api, user, job_id))
    credits = (await api.me(user))["credits"]
    late = data_of(await api.callback(job_id, user.user_id, 1))
    assert late["processed"] is False
    assert late["job_status"] == "canceled"
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"], job["failed_items"]) == ("canceled", 1, 0)
    assert job["items"][1]["status"] == "pending"
    assert (await api.me(user))["credits"] == credits == 9
    await assert_money_invariants(context, user.user_id)


async def test_the_message_of_a_canceled_job_is_dropped_at_the_next_pull(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    assert len(await queue_bodies(context, job_id)) == 1
    data_of(await cancel(api, user, job_id))
    assert await pull(api) == []
    assert await queue_bodies(context, job_id) == []


async def test_the_message_of_a_live_job_is_still_delivered_beside_a_dropped_one(
    api: ApiClient, context: AppContext
) -> None:
    first = await api.sign_in()
    second = await api.sign_in()
    canceled = (await api.queued_job(first, 1))["job_id"]
    live = (await api.queued_job(second, 1))["job_id"]
    data_of(await cancel(api, first, canceled))
    messages = await pull(api)
    assert [message["body"]["job_id"] for message in messages] == [live]


async def test_cancel_ignores_unknown_json_fields(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.create_job(user, 1))["job_id"]
    response = await api.http.post(
        f"/jobs/{job_id}/cancel", json={"reason": "changed my mind"}, headers=user.headers
    )
    assert data_of(response)["canceled"] is True
