"""Webhook delivery to a real local receiver, every request verified with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import dataclasses

from s3api.context import AppContext
from s3api.jobs import webhook_subscriptions
from s3api.jobs.webhook_subscriptions import WebhookEvent
from tests.support.factories import ApiClient
from tests.support.foundation import assert_timestamp
from tests.support.webhooks import (
    dispatcher_for,
    finish_items,
    freeze_webhook_clock,
    job_with_webhook,
    verified_payloads,
)
from tests.support.worker import HANG, scripted_endpoint


async def _secret(api: ApiClient, headers: dict[str, str]) -> str:
    response = await api.http.get("/me/webhook-secret", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["secret"])


async def test_job_completed_arrives_once_per_job_after_two_failed_attempts(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_webhook_clock(context)
    user = await api.sign_in()
    with scripted_endpoint([500, 500]) as (receiver, url):
        job_id = await job_with_webhook(api, user, f"{url}/hooks")
        await finish_items(api, user, job_id, 2)
        async with dispatcher_for(context) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
            assert await dispatcher.deliver_pending() == 0  # the retry waits its delay
            for _ in range(2):
                clock.advance(1)
                assert await dispatcher.deliver_pending() == 1
            clock.advance(3600)
            assert await dispatcher.deliver_pending() == 0
        payloads = verified_payloads(await _secret(api, user.headers), receiver.requests)
    assert len(payloads) == 3
    assert len({payload["webhook-id"] for payload in payloads}) == 1
    unique = {payload["webhook-id"]: payload for payload in payloads}
    [completed] = unique.values()
    assert completed["type"] == "job.completed"
    assert completed["data"]["job_id"] == job_id
    assert completed["data"]["status"] == "done"
    assert len(completed["data"]["download_urls"]) == 2
    assert_timestamp(completed["timestamp"])
    job = await api.job(user, job_id)
    assert job["webhook"]["last_status"] == "delivered"
    assert job["webhook"]["last_response_code"] == 200
    assert job["webhook"]["attempts"] == 3
    assert job["webhook"]["events"] == ["job.completed"]


async def test_a_receiver_that_always_fails_is_dead_lettered_and_called_no_more(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_webhook_clock(context)
    user = await api.sign_in()
    with scripted_endpoint([], default_status=500) as (receiver, url):
        job_id = await job_with_webhook(api, user, url)
        assert (
            await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers)
        ).status_code == 200
        async with dispatcher_for(context) as dispatcher:
            for _ in range(4):
                assert await dispatcher.deliver_pending() == 1
                clock.advance(1)
            for _ in range(3):
                clock.advance(3600)
                assert await dispatcher.deliver_pending() == 0
        payloads = verified_payloads(await _secret(api, user.headers), receiver.requests)
    assert len(payloads) == 4
    assert {payload["data"]["status"] for payload in payloads} == {"canceled"}
    async with context.database.read() as connection:
        dead = await context.webhook_queue.dead_letters(connection, 10)
    assert [(letter.subject_id, letter.attempts) for letter in dead] == [(f"{job_id}:job", 4)]
    job = await api.job(user, job_id)
    assert job["webhook"]["last_status"] == "dead"
    assert job["webhook"]["last_error"] == "receiver answered 500"


async def test_a_pending_webhook_of_a_deleted_job_is_dropped_without_a_call(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_webhook_clock(context)
    user = await api.sign_in()
    with scripted_endpoint([500]) as (receiver, url):
        job_id = await job_with_webhook(api, user, url)
        await finish_items(api, user, job_id, 2)
        async with dispatcher_for(context) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
            deleted = await api.http.delete(f"/jobs/{job_id}", headers=user.headers)
            assert deleted.status_code == 200, deleted.text
            clock.advance(3600)
            assert await dispatcher.deliver_pending() == 1
            clock.advance(3600)
            assert await dispatcher.deliver_pending() == 0
        calls = len(receiver.requests)
    assert calls == 1
    async with context.database.read() as connection:
        assert await context.webhook_queue.dead_letters(connection, 10) == []
        assert await context.webhook_queue.lease(connection, 10, 30) == []


async def test_item_completed_is_sent_for_each_item_with_signed_urls(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    with scripted_endpoint([]) as (receiver, url):
        job_id = await job_with_webhook(
            api, user, url, item_count=2, events=["item.completed", "job.completed"]
        )
        await finish_items(api, user, job_id, 2)
        async with dispatcher_for(context) as dispatcher:
            assert await dispatcher.deliver_pending() == 3
        payloads = verified_payloads(await _secret(api, user.headers), receiver.requests)
    by_type = sorted((payload["type"], payload["data"].get("idx", -1)) for payload in payloads)
    assert by_type == [("item.completed", 0), ("item.completed", 1), ("job.completed", -1)]
    item = next(payload["data"] for payload in payloads if payload["type"] == "item.completed")
    assert item["status"] == "done"
    assert item["output_url"].startswith("http://testserver/objects/outputs/")
    assert len({payload["webhook-id"] for payload in payloads}) == 3


async def test_only_job_completed_is_sent_by_default(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    with scripted_endpoint([]) as (receiver, url):
        job_id = await job_with_webhook(api, user, url, item_count=3)
        await finish_items(api, user, job_id, 3)
        async with dispatcher_for(context) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
            assert await dispatcher.deliver_pending() == 0
    assert [request.json()["type"] for request in receiver.requests] == ["job.completed"]


async def test_a_hanging_receiver_delays_neither_other_deliveries_nor_past_its_timeout(
    api: ApiClient, context: AppContext
) -> None:
    slow_user, other_user = await api.sign_in(), await api.sign_in()
    short = dataclasses.replace(context.webhook_policy, timeout_seconds=30)
    with scripted_endpoint([HANG]) as (slow, slow_url), scripted_endpoint([]) as (fast, fast_url):
        slow_job = await job_with_webhook(api, slow_user, slow_url, item_count=1)
        await finish_items(api, slow_user, slow_job, 1)
        other_job = await job_with_webhook(api, other_user, fast_url, item_count=1)
        await finish_items(api, other_user, other_job, 1)
        async with dispatcher_for(context, short) as dispatcher:
            async with context.database.transaction() as connection:
                leased = await context.webhook_queue.lease(connection, 10, 60)
            by_job = {message.body["job_id"]: message for message in leased}
            hanging = asyncio.create_task(dispatcher.deliver(by_job[slow_job]))
            await dispatcher.deliver(by_job[other_job])
            assert not hanging.done()
            assert (await api.job(other_user, other_job))["webhook"]["last_status"] == "delivered"
            slow.released.set()
            await hanging
    assert len(fast.requests) == 1


async def test_an_attempt_gives_up_at_its_timeout_and_is_retried(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    quick = dataclasses.replace(context.webhook_policy, timeout_seconds=0.2)
    with scripted_endpoint([HANG]) as (receiver, url):
        job_id = await job_with_webhook(api, user, url, item_count=1)
        await finish_items(api, user, job_id, 1)
        async with dispatcher_for(context, quick) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
        receiver.released.set()
    webhook = (await api.job(user, job_id))["webhook"]
    assert webhook["last_status"] == "retrying"
    assert webhook["last_error"] == "no answer within 0.2s"


async def test_delivery_rechecks_the_address_in_production(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    production = dataclasses.replace(context.webhook_policy, is_production=True)
    with scripted_endpoint([]) as (receiver, url):
        # accepted in development; by delivery time the rules are production's
        https_url = url.replace("http://", "https://")
        job_id = await job_with_webhook(api, user, https_url, item_count=1)
        await finish_items(api, user, job_id, 1)
        async with dispatcher_for(context, production) as dispatcher:
            assert await dispatcher.deliver_pending() == 1
    assert receiver.requests == []
    async with context.database.read() as connection:
        webhook = await webhook_subscriptions.find_subscription(connection, job_id)
    assert webhook is not None
    assert webhook.events == [WebhookEvent.JOB_COMPLETED]
    assert webhook.last_error == (
        "refused: the URL resolves to a private, loopback or link-local address"
    )
    assert webhook.last_status is not None
    assert webhook.last_status.value == "retrying"
