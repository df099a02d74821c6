"""Leases, redelivery, retries and the dead-letter queue (API.md §6)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import DeadLetter, QueueMessage
from tests.support.clock import freeze_queue_clock
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.delivery import SECRET, ack, pull
from tests.support.factories import ApiClient


async def test_empty_queue_answers_no_messages(api: ApiClient) -> None:
    assert await pull(api.http) == []


async def test_pull_requires_the_shared_secret(api: ApiClient) -> None:
    for headers in ({}, {"X-Callback-Secret": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = await api.http.post("/queues/gpu-jobs/pull", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "CALLBACK_UNAUTHORIZED"
    bearer = {"Authorization": f"Bearer {TEST_CALLBACK_SECRET}"}
    assert (await api.http.post("/queues/gpu-jobs/pull", headers=bearer)).status_code == 200


async def test_pull_validates_batch_size_and_visibility(api: ApiClient) -> None:
    for body in (
        {"batch_size": 0},
        {"batch_size": 11},
        {"visibility_timeout_seconds": 0},
        {"visibility_timeout_seconds": 3601},
    ):
        response = await api.http.post("/queues/gpu-jobs/pull", json=body, headers=SECRET)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_pulled_message_carries_body_and_fresh_item_urls(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=2)
    [message] = await pull(api.http)
    assert message["attempts"] == 1
    assert isinstance(message["timestamp_ms"], int)
    body = message["body"]
    assert body["job_id"] == created["job_id"]
    assert body["callback_url"] == f"http://testserver/jobs/{created['job_id']}/callback"
    for item in body["items"]:
        downloaded = await api.http.get(item["input_url"])
        assert downloaded.status_code == 200
        assert downloaded.content[:3] == b"\xff\xd8\xff"
        uploaded = await api.http.put(item["output_url"], content=b"\x89PNG\r\n\x1a\nresult")
        assert uploaded.status_code == 200


async def test_leased_message_is_invisible_until_the_lease_ends(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user)
    [first] = await pull(api.http, visibility_timeout_seconds=30)
    assert await pull(api.http) == []
    clock.advance(29)
    assert await pull(api.http) == []
    clock.advance(2)
    [again] = await pull(api.http, visibility_timeout_seconds=30)
    assert again["id"] == first["id"]
    assert again["attempts"] == 2
    assert again["lease_id"] != first["lease_id"]


async def test_ack_removes_the_message_for_good(api: ApiClient, context: AppContext) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user)
    [message] = await pull(api.http, visibility_timeout_seconds=10)
    assert await ack(api.http, acks=[{"lease_id": message["lease_id"]}]) == {
        "acked": 1,
        "retried": 0,
    }
    clock.advance(3600)
    assert await pull(api.http) == []
    assert await ack(api.http, acks=[{"lease_id": message["lease_id"]}]) == {
        "acked": 0,
        "retried": 0,
    }


async def test_expired_lease_ack_is_ignored_and_message_redelivered(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user)
    [message] = await pull(api.http, visibility_timeout_seconds=10)
    clock.advance(11)
    assert await ack(api.http, acks=[{"lease_id": message["lease_id"]}]) == {
        "acked": 0,
        "retried": 0,
    }
    [again] = await pull(api.http)
    assert again["id"] == message["id"]


async def test_retry_redelivers_after_the_delay(api: ApiClient, context: AppContext) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user)
    [message] = await pull(api.http)
    result = await ack(api.http, retries=[{"lease_id": message["lease_id"], "delay_seconds": 60}])
    assert result == {"acked": 0, "retried": 1}
    clock.advance(59)
    assert await pull(api.http) == []
    clock.advance(2)
    [again] = await pull(api.http)
    assert again["attempts"] == 2


async def _count(context: AppContext, model: type[QueueMessage] | type[DeadLetter]) -> int:
    async with context.database.read() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


async def test_message_is_dead_lettered_after_its_last_lease_and_job_refunded(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=3)
    deliveries = 0
    while batch := await pull(api.http, visibility_timeout_seconds=5):
        deliveries += 1
        assert batch[0]["attempts"] == deliveries
        clock.advance(6)
    assert deliveries == 1 + context.settings.queue_max_retries
    assert await _count(context, DeadLetter) == 0
    assert await context.delivery.dead_letter_exhausted() == 1
    assert await _count(context, QueueMessage) == 0
    job = await api.job(user, created["job_id"])
    assert job["status"] == "failed"
    assert all(item["status"] == "failed" for item in job["items"])
    me = await api.me(user)
    assert me["credits"] == 10
    assert me["concurrent_jobs"] == 0
    dlq = await api.http.get("/queues/gpu-jobs/dlq", headers=SECRET)
    [entry] = dlq.json()["data"]["messages"]
    assert entry["job_id"] == created["job_id"]
    assert entry["attempts"] == deliveries


async def test_retry_after_the_last_delivery_dead_letters_at_once(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=2)
    for attempt in range(1, 2 + context.settings.queue_max_retries):
        [message] = await pull(api.http)
        assert message["attempts"] == attempt
        retry = {"lease_id": message["lease_id"], "delay_seconds": 0, "error": "gpu oom"}
        assert (await ack(api.http, retries=[retry]))["retried"] == 1
        clock.advance(1)
    assert await pull(api.http) == []
    assert (await api.job(user, created["job_id"]))["status"] == "failed"
    dlq = await api.http.get("/queues/gpu-jobs/dlq", headers=SECRET)
    assert "gpu oom" in dlq.json()["data"]["messages"][0]["last_error"]
    assert (await api.me(user))["credits"] == 10


async def test_dead_letter_keeps_results_already_recorded(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=3)
    assert (await api.callback(created["job_id"], user.user_id, 0)).status_code == 200
    while await pull(api.http, visibility_timeout_seconds=5):
        clock.advance(6)
    await context.delivery.dead_letter_exhausted()
    job = await api.job(user, created["job_id"])
    assert job["status"] == "failed"
    assert job["done_items"] == 1
    assert job["failed_items"] == 2
    assert (await api.me(user))["credits"] == 10 - 1


async def test_dlq_requires_the_secret(api: ApiClient) -> None:
    response = await api.http.get("/queues/gpu-jobs/dlq")
    assert response.status_code == 401


async def test_concurrent_pulls_never_lease_one_message_twice(api: ApiClient) -> None:
    jobs = []
    for _ in range(6):
        user = await api.sign_in()
        jobs.append((await api.queued_job(user, item_count=1))["job_id"])
    batches = await asyncio.gather(*(pull(api.http, batch_size=2) for _ in range(12)))
    leased = [message["body"]["job_id"] for batch in batches for message in batch]
    assert sorted(leased) == sorted(jobs)


def _access_levels(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [
        record.levelno
        for record in caplog.records
        if record.name == "s3api.access" and "/queues/gpu-jobs/pull" in record.getMessage()
    ]


async def test_an_empty_pull_is_logged_below_info(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="s3api.access"):
        for _ in range(3):
            assert await pull(api.http) == []
    assert _access_levels(caplog) == [logging.DEBUG] * 3


async def test_a_pull_that_leases_a_message_is_logged_at_info(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await api.sign_in()
    await api.queued_job(user)
    with caplog.at_level(logging.DEBUG, logger="s3api.access"):
        assert len(await pull(api.http)) == 1
    assert _access_levels(caplog) == [logging.INFO]


async def test_booleans_are_not_accepted_as_integers(api: ApiClient) -> None:
    headers = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
    retry = {"lease_id": "some-lease", "delay_seconds": False}
    response = await api.http.post(
        "/queues/gpu-jobs/ack", json={"retries": [retry]}, headers=headers
    )
    assert response.status_code == 400, response.text
    for body in ({"batch_size": True}, {"visibility_timeout_seconds": True}):
        refused = await api.http.post("/queues/gpu-jobs/pull", json=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_integral_numbers_are_integers_but_numeric_strings_are_not(api: ApiClient) -> None:
    headers = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
    accepted = await api.http.post(
        "/queues/gpu-jobs/pull", json={"batch_size": 2.0}, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    refused = await api.http.post(
        "/queues/gpu-jobs/pull", json={"batch_size": "2"}, headers=headers
    )
    assert refused.status_code == 400, refused.text
