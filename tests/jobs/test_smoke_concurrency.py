"""Races on job creation and callbacks."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import BillingEvent, Job
from tests.support.factories import ApiClient


async def test_sixteen_concurrent_creates_by_one_free_user_make_one_job(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    responses = await asyncio.gather(
        *(
            api.http.post(
                "/jobs", json={"preset": "interior", "item_count": 1}, headers=user.headers
            )
            for _ in range(16)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1
    assert set(codes) == {201, 429}
    async with context.database.read() as connection:
        jobs = (await connection.execute(select(func.count()).select_from(Job))).scalar_one()
        ledger = (
            await connection.execute(
                select(func.sum(BillingEvent.amount)).where(BillingEvent.user_id == user.user_id)
            )
        ).scalar_one()
    assert jobs == 1
    assert (await api.me(user))["credits"] == ledger == 9


async def test_forty_eight_copies_of_one_callback_count_once(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=2)
    job_id = created["job_id"]
    responses = await asyncio.gather(*(api.callback(job_id, user.user_id, 0) for _ in range(48)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses][:3]
    processed = [r.json()["data"]["processed"] for r in responses]
    assert processed.count(True) == 1
    job = await api.job(user, job_id)
    assert job["done_items"] == 1
    assert job["status"] == "running"
