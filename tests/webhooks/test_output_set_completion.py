"""`job.completed` of a job with an output set waits for the set; other jobs are unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from s3api.context import AppContext
from s3api.db.models import QueueMessage
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import FLOOR_OAK, queue_bodies
from tests.support.worker import SECRET_HEADERS

HOOK = "https://hooks.example.com/s3"


async def webhook_types(context: AppContext, job_id: str) -> list[str]:
    async with context.database.read() as connection:
        rows = await connection.execute(
            select(QueueMessage.body).where(QueueMessage.queue == "webhooks")
        )
        return [body["type"] for body in rows.scalars() if body["job_id"] == job_id]


async def finished_job(
    api: ApiClient, user: SignedIn, execute: dict[str, Any], events: list[str]
) -> str:
    body = {"preset": "interior", "item_count": 1, "webhook_url": HOOK, "webhook_events": events}
    response = await api.http.post("/jobs", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    await api.upload_all(created)
    job_id = str(created["job_id"])
    assert (await api.confirm(user, job_id)).status_code == 200
    assert (await api.execute(user, job_id, execute)).status_code == 202
    assert (await api.callback(job_id, user.user_id, 0)).status_code == 200
    return job_id


async def test_job_completed_of_a_job_with_a_set_is_sent_when_the_set_ends(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    execute = {**FLOOR_OAK, "output_template": "전후비교"}
    job_id = await finished_job(api, user, execute, ["job.completed"])
    assert (await api.job(user, job_id))["status"] == "done"
    assert await webhook_types(context, job_id) == []
    [assembly] = [body for body in await queue_bodies(context) if body.get("kind") == "output_set"]
    failed = {
        "set_id": assembly["set_id"],
        "status": "failed",
        "idempotency_key": f"{assembly['set_id']}:1",
        "error": "no GPU",
    }
    answer = await api.http.post(assembly["callback_url"], json=failed, headers=SECRET_HEADERS)
    assert answer.status_code == 200, answer.text
    assert await webhook_types(context, job_id) == ["job.completed"]


async def test_job_completed_of_a_job_without_a_template_is_sent_at_its_end(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, user, FLOOR_OAK, ["job.completed"])
    assert await webhook_types(context, job_id) == ["job.completed"]
