"""The push dispatcher, one pass at a time on an in-process app with a frozen queue clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import QueueMessage
from s3api.dispatch.dispatcher import PushDispatcher, backoff_delay_seconds
from s3api.dispatch.target import DispatchMode, PushTarget
from tests.support.clock import freeze_queue_clock
from tests.support.factories import ApiClient
from tests.support.live import free_port
from tests.support.worker import HANG, SECRET_HEADERS, scripted_endpoint


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The dispatcher's HTTP client."""
    async with httpx.AsyncClient() as http:
        yield http


def generic(url: str, timeout_seconds: float = 5.0) -> PushTarget:
    return PushTarget(url=url, mode=DispatchMode.GENERIC, timeout_seconds=timeout_seconds)


async def queue_rows(context: AppContext) -> list[Any]:
    async with context.database.read() as connection:
        return list(
            await connection.execute(select(QueueMessage.attempts, QueueMessage.last_error))
        )


async def test_failed_pushes_are_retried_with_backoff_and_delivered_exactly_once(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=2)
    with scripted_endpoint([500, 500]) as (endpoint, base_url):
        dispatcher = PushDispatcher(
            context.delivery, context.settings, generic(f"{base_url}/gpu"), client
        )
        assert await dispatcher.dispatch_pending() == 1
        assert await dispatcher.dispatch_pending() == 0  # first retry waits 1 s
        clock.advance(1)
        assert await dispatcher.dispatch_pending() == 1
        clock.advance(1)
        assert await dispatcher.dispatch_pending() == 0  # second retry waits 2 s
        clock.advance(1)
        assert await dispatcher.dispatch_pending() == 1
        clock.advance(3600)
        assert await dispatcher.dispatch_pending() == 0
    assert len(endpoint.requests) == 3
    bodies = [request.json() for request in endpoint.requests]
    assert [body["attempts"] for body in bodies] == [1, 2, 3]
    assert {body["job_id"] for body in bodies} == {created["job_id"]}
    delivered = bodies[-1]
    assert delivered["callback_url"].endswith(f"/jobs/{created['job_id']}/callback")
    assert all({"input_url", "output_url", "preview_url"} <= set(i) for i in delivered["items"])
    assert await queue_rows(context) == []
    assert (await api.job(user, created["job_id"]))["status"] == "queued"


async def test_serverless_mode_posts_input_to_run_with_the_configured_auth_header(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user)
    with scripted_endpoint([]) as (endpoint, base_url):
        settings = context.settings.model_copy(
            update={
                "dispatch_url": f"{base_url}/v2/endpoint-1/",
                "dispatch_mode": "serverless",
                "dispatch_auth_header": "Authorization: Bearer platform-key",
            }
        )
        target = PushTarget.from_settings(settings)
        assert target is not None
        assert (
            await PushDispatcher(
                context.delivery, context.settings, target, client
            ).dispatch_pending()
            == 1
        )
    [request] = endpoint.requests
    assert (request.method, request.path) == ("POST", "/v2/endpoint-1/run")
    assert request.headers["authorization"] == "Bearer platform-key"
    event = request.json()
    assert list(event) == ["input"]
    assert event["input"]["job_id"] == created["job_id"]
    assert await queue_rows(context) == []


async def test_endpoint_that_always_fails_dead_letters_the_message_and_refunds_the_job(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=3)
    deliveries = 1 + context.settings.queue_max_retries
    with scripted_endpoint([], default_status=503) as (endpoint, base_url):
        dispatcher = PushDispatcher(context.delivery, context.settings, generic(base_url), client)
        for _ in range(deliveries):
            assert await dispatcher.dispatch_pending() == 1
            clock.advance(context.settings.dispatch_backoff_max_seconds)
        assert await dispatcher.dispatch_pending() == 0
    assert len(endpoint.requests) == deliveries
    assert await queue_rows(context) == []
    job = await api.job(user, created["job_id"])
    assert job["status"] == "failed"
    assert {item["status"] for item in job["items"]} == {"failed"}
    me = await api.me(user)
    assert (me["credits"], me["concurrent_jobs"]) == (10, 0)
    dlq = await api.http.get("/queues/gpu-jobs/dlq", headers=SECRET_HEADERS)
    [entry] = dlq.json()["data"]["messages"]
    assert entry["attempts"] == deliveries
    assert "endpoint answered 503" in entry["last_error"]


async def test_a_timeout_counts_as_a_failed_push(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    await api.queued_job(user)
    with scripted_endpoint([HANG]) as (_endpoint, base_url):
        target = generic(base_url, timeout_seconds=0.2)
        assert (
            await PushDispatcher(
                context.delivery, context.settings, target, client
            ).dispatch_pending()
            == 1
        )
    [(attempts, last_error)] = await queue_rows(context)
    assert attempts == 1
    assert last_error == "no answer within 0.2s"


async def test_an_unreachable_endpoint_counts_as_a_failed_push(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    await api.queued_job(user)
    target = generic(f"http://127.0.0.1:{free_port()}")
    assert (
        await PushDispatcher(context.delivery, context.settings, target, client).dispatch_pending()
        == 1
    )
    [(_attempts, last_error)] = await queue_rows(context)
    assert last_error.startswith("endpoint unreachable")


async def test_message_of_a_canceled_job_is_never_pushed(
    api: ApiClient, context: AppContext, client: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user)
    canceled = await api.http.post(f"/jobs/{created['job_id']}/cancel", headers=user.headers)
    assert canceled.status_code == 200
    with scripted_endpoint([]) as (endpoint, base_url):
        assert (
            await PushDispatcher(
                context.delivery, context.settings, generic(base_url), client
            ).dispatch_pending()
            == 0
        )
    assert endpoint.requests == []
    async with context.database.read() as connection:
        assert (await connection.execute(select(func.count(QueueMessage.id)))).scalar_one() == 0


class CountingDispatcher(PushDispatcher):
    """Finds nothing to push, and counts how often it looked."""

    passes = 0

    async def dispatch_pending(self) -> int:
        self.passes += 1
        await asyncio.sleep(0)
        return 0


async def test_idle_dispatcher_waits_its_poll_interval_instead_of_spinning(
    context: AppContext, client: httpx.AsyncClient
) -> None:
    dispatcher = CountingDispatcher(
        context.delivery, context.settings, generic("http://127.0.0.1:9"), client
    )
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    deadline = time.monotonic() + 10
    while dispatcher.passes == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    for _ in range(50):
        await asyncio.sleep(0)
    assert dispatcher.passes == 1
    stop.set()
    await asyncio.wait_for(running, 5)


def test_backoff_delay_doubles_from_the_base_and_is_capped() -> None:
    delays = [backoff_delay_seconds(1.0, 20.0, attempts) for attempts in range(1, 7)]
    assert delays == [1, 2, 4, 8, 16, 20]
    assert backoff_delay_seconds(0.0, 20.0, 3) == 0
