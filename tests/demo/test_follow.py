"""The demo follows a job through its event stream instead of polling."""

from __future__ import annotations

import asyncio
import queue

from fastapi import FastAPI

from s3api.demo.client import ApiClient as DemoClient
from s3api.demo.follow import JobUpdate, start_following
from tests.support.factories import ApiClient
from tests.support.served import served

UPDATE_TIMEOUT_SECONDS = 10.0


async def _next(updates: queue.Queue[JobUpdate]) -> JobUpdate:
    return await asyncio.to_thread(updates.get, timeout=UPDATE_TIMEOUT_SECONDS)


async def test_each_streamed_event_becomes_a_job_state_until_the_end(
    app: FastAPI, api: ApiClient
) -> None:
    user = await api.sign_in("follow-device-0123456789")
    job_id = (await api.queued_job(user, item_count=2))["job_id"]
    async with served(app) as base_url:
        with DemoClient(base_url) as demo_client:
            # the same device signs in as the same user; off the loop, which serves the app
            session = await asyncio.to_thread(demo_client.sign_in, "follow-device-0123456789")
            assert session.user_id == user.user_id
            updates = start_following(demo_client, job_id)
            snapshot = await _next(updates)
            assert not isinstance(snapshot, Exception)
            assert snapshot is not None
            assert (snapshot.status, snapshot.done_items) == ("queued", 0)
            assert (await api.callback(job_id, user.user_id, 0)).status_code == 200
            assert (await api.callback(job_id, user.user_id, 1, "failed")).status_code == 200
            states = []
            while (update := await _next(updates)) is not None:
                assert not isinstance(update, Exception), update
                states.append((update.status, update.done_items, update.failed_items))
    assert states == [
        ("queued", 1, 0),
        ("running", 1, 0),
        ("running", 1, 1),
        ("done", 1, 1),
    ]
