"""Cancel racing the last callback ends in one terminal state with one settlement."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import BillingEvent, Job
from tests.support.factories import ApiClient

ROUNDS = 20


async def test_cancel_racing_the_last_callback_settles_once(
    api: ApiClient, context: AppContext
) -> None:
    outcomes: set[str] = set()
    for _ in range(ROUNDS):
        user = await api.sign_in()
        created = await api.queued_job(user, item_count=2)
        job_id = created["job_id"]
        assert (await api.callback(job_id, user.user_id, 0)).status_code == 200
        last, cancel = await asyncio.gather(
            api.callback(job_id, user.user_id, 1, status="failed"),
            api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers),
        )
        job = await api.job(user, job_id)
        if cancel.status_code == 200:
            assert job["status"] == "canceled"
            assert last.json()["data"]["processed"] is False
            assert cancel.json()["data"]["refunded"] == 1
        else:
            assert cancel.status_code == 409
            assert last.json()["data"]["processed"] is True
            assert job["status"] == "done"
        outcomes.add(job["status"])
        async with context.database.read() as connection:
            refunds = (
                await connection.execute(
                    select(func.count(), func.sum(BillingEvent.amount)).where(
                        BillingEvent.job_id == job_id, BillingEvent.kind == "refund"
                    )
                )
            ).one()
            settled = (
                await connection.execute(select(Job.settled_at).where(Job.id == job_id))
            ).scalar_one()
        assert refunds == (1, 1)
        assert settled is not None
        me = await api.me(user)
        assert me["credits"] == 10 - 1
        assert me["concurrent_jobs"] == 0
    assert outcomes <= {"done", "canceled"}
