"""`DELETE /me`: active jobs refunded, every object, job, rule and the user gone, ledger kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import IdempotencyKey, Job, JobItem, Rule, User
from s3api.settings import Settings
from tests.support.factories import ApiClient
from tests.support.jobs import data_of, error_of, ledger_of
from tests.support.object_stores import (
    STORAGE_KINDS,
    all_keys,
    existing,
    failing_deletes,
    finished_job,
    object_keys,
    queued_job,
    settings_on_storage,
)
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server

RULE = {"name": "r", "preset_id": "interior", "concepts": {"Light": {"action": "remove"}}}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the module's S3 runs."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(params=STORAGE_KINDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Every test runs on local storage and on S3."""
    return settings_on_storage(request, tmp_path, database_url)


async def rows_of(context: AppContext, user_id: str) -> dict[str, int]:
    """How many rows of each per-user table still name the user."""
    counts = {}
    async with context.database.read() as connection:
        for name, table, column in (
            ("users", User, User.id),
            ("rules", Rule, Rule.user_id),
            ("jobs", Job, Job.user_id),
            ("idempotency_keys", IdempotencyKey, IdempotencyKey.user_id),
        ):
            query = select(func.count()).select_from(table).where(column == user_id)
            counts[name] = int((await connection.execute(query)).scalar_one())
        items = (
            select(func.count()).select_from(JobItem).where(JobItem.input_key.like(f"%{user_id}%"))
        )
        counts["job_items"] = int((await connection.execute(items)).scalar_one())
    return counts


async def test_deleting_the_account_removes_everything_but_the_ledger(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in(device_hash="device-to-forget")
    bystander = await api.sign_in()
    done = await finished_job(api, context, user, 2)
    data_of(await api.http.post("/rules", json=RULE, headers=user.headers), 201)
    await api.http.post(
        "/jobs",
        json={"preset": "interior", "item_count": 1},
        headers={**user.headers, "Idempotency-Key": "k"},
    )
    kept = await finished_job(api, context, bystander, 1)
    assert (await api.me(user))["credits"] == 7

    assert data_of(await api.http.delete("/me", headers=user.headers)) == {"deleted": True}

    error_of(await api.http.get("/me", headers=user.headers), 401, "AUTH_INVALID_TOKEN")
    error_of(await api.http.get("/jobs", headers=user.headers), 401, "AUTH_INVALID_TOKEN")
    assert await rows_of(context, user.user_id) == {
        "users": 0,
        "rules": 0,
        "jobs": 0,
        "idempotency_keys": 0,
        "job_items": 0,
    }
    assert await existing(context, all_keys(user, done, 2)) == []
    assert await existing(context, all_keys(bystander, kept, 1)) == all_keys(bystander, kept, 1)
    ledger = await ledger_of(context, user.user_id)
    assert sorted(kind for kind, _, _ in ledger.rows) == ["grant", "refund", "reserve", "reserve"]
    assert ledger.total == 10 - 2  # the unfinished job's credit came back before deletion
    again = await api.sign_in(device_hash="device-to-forget")
    assert again.user_id != user.user_id
    assert (await api.me(again))["credits"] == 10


async def test_active_jobs_are_canceled_with_their_refunds_and_their_inputs_removed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 3)
    inputs = object_keys(user, job_id, 3)["inputs"]
    assert await existing(context, inputs) == inputs
    data_of(await api.http.delete("/me", headers=user.headers))
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(job_id, "reserve") == [-3]
    assert ledger.of_job(job_id, "refund") == [3]
    assert await existing(context, inputs) == []
    error_of(await api.http.delete("/me", headers=user.headers), 401, "AUTH_INVALID_TOKEN")


async def test_a_store_failing_to_delete_keeps_the_account_for_a_retry(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    done = await finished_job(api, context, user, 2)
    with failing_deletes(context, user, done):
        error_of(await api.http.delete("/me", headers=user.headers), 503, "UNAVAILABLE")
    assert (await api.me(user))["user_id"] == user.user_id
    assert data_of(await api.http.delete("/me", headers=user.headers)) == {"deleted": True}
    assert await existing(context, all_keys(user, done, 2)) == []
