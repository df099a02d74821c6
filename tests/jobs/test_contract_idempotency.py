"""`Idempotency-Key` on `POST /jobs` and `POST /jobs/{id}/rerun`: one job per key and body."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import Job
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    WALL_TONE,
    assert_money_invariants,
    data_of,
    error_of,
    ledger_of,
    pro_user,
)
from tests.support.object_stores import finished_job

CREATE = {"preset": "interior", "item_count": 2}


async def post_with_key(
    api: ApiClient, user: SignedIn, path: str, body: dict[str, Any], key: str
) -> httpx.Response:
    """A POST carrying an `Idempotency-Key`."""
    headers = {**user.headers, "Idempotency-Key": key}
    return await api.http.post(path, json=body, headers=headers)


async def jobs_of(context: AppContext, user_id: str) -> int:
    """How many job rows the user has."""
    async with context.database.read() as connection:
        query = select(func.count()).select_from(Job).where(Job.user_id == user_id)
        return int((await connection.execute(query)).scalar_one())


async def test_a_retried_create_replays_the_first_answer(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    first = await post_with_key(api, user, "/jobs", CREATE, "create-1")
    again = await post_with_key(api, user, "/jobs", CREATE, "create-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await jobs_of(context, user.user_id) == 1
    assert (await api.me(user))["credits"] == 8
    await assert_money_invariants(context, user.user_id)


async def test_the_same_key_with_another_body_is_refused(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    data_of(await post_with_key(api, user, "/jobs", CREATE, "k"), 201)
    other = {"preset": "interior", "item_count": 3}
    error = error_of(
        await post_with_key(api, user, "/jobs", other, "k"), 422, "IDEMPOTENCY_KEY_REUSED"
    )
    assert error["details"] == {"idempotency_key": "k"}
    assert await jobs_of(context, user.user_id) == 1


async def test_keys_belong_to_one_user(api: ApiClient, context: AppContext) -> None:
    alice, bob = await api.sign_in(), await api.sign_in()
    for_alice = data_of(await post_with_key(api, alice, "/jobs", CREATE, "shared"), 201)
    for_bob = data_of(await post_with_key(api, bob, "/jobs", CREATE, "shared"), 201)
    assert for_alice["job_id"] != for_bob["job_id"]
    assert (await jobs_of(context, alice.user_id), await jobs_of(context, bob.user_id)) == (1, 1)


async def test_a_key_older_than_a_day_makes_a_new_job(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    first = data_of(await post_with_key(api, user, "/jobs", CREATE, "daily"), 201)
    async with context.database.read() as connection:
        first_seen = (
            await connection.execute(select(Job.created_at).where(Job.id == first["job_id"]))
        ).scalar_one()
    keys = context.lifecycle.idempotency
    keys.clock = lambda: first_seen + timedelta(hours=24, seconds=1)
    later = await post_with_key(api, user, "/jobs", CREATE, "daily")
    assert "Idempotent-Replayed" not in later.headers
    assert data_of(later, 201)["job_id"] != first["job_id"]
    assert await context.lifecycle.forget_expired_idempotency_keys() == 0
    keys.clock = lambda: first_seen + timedelta(hours=48, seconds=2)
    assert await context.lifecycle.forget_expired_idempotency_keys() == 1


async def test_a_refused_create_is_not_remembered(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    too_many = {"preset": "interior", "item_count": 11}
    error_of(await post_with_key(api, user, "/jobs", too_many, "k"), 403, "ITEM_LIMIT")
    data_of(await post_with_key(api, user, "/jobs", CREATE, "k"), 201)


async def test_concurrent_creates_with_one_key_make_one_job_and_one_reserve(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    responses = await asyncio.gather(
        *(post_with_key(api, user, "/jobs", CREATE, "burst") for _ in range(10))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["data"]["job_id"] for response in responses}) == 1
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 9
    assert await jobs_of(context, user.user_id) == 1
    reserves = [row for row in (await ledger_of(context, user.user_id)).rows if row[0] == "reserve"]
    assert len(reserves) == 1
    await assert_money_invariants(context, user.user_id)


async def test_a_retried_rerun_replays_and_reserves_once(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    parent = await finished_job(api, context, user, 2)
    path = f"/jobs/{parent}/rerun"
    responses = await asyncio.gather(
        *(post_with_key(api, user, path, WALL_TONE, "rerun-1") for _ in range(5))
    )
    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["data"]["job_id"] for response in responses}) == 1
    assert await jobs_of(context, user.user_id) == 2
    other = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}}
    error_of(await post_with_key(api, user, path, other, "rerun-1"), 422, "IDEMPOTENCY_KEY_REUSED")
    error_of(
        await post_with_key(api, user, "/jobs", CREATE, "rerun-1"), 422, "IDEMPOTENCY_KEY_REUSED"
    )
    await assert_money_invariants(context, user.user_id)


async def test_a_malformed_key_is_a_validation_error(api: ApiClient) -> None:
    user = await api.sign_in()
    for key in ("x" * 256, "has space"):
        error_of(await post_with_key(api, user, "/jobs", CREATE, key), 400, "VALIDATION_FAILED")


async def test_a_retried_rerun_replays_even_after_its_parent_was_deleted(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    path = f"/jobs/{parent}/rerun"
    first = data_of(await post_with_key(api, user, path, WALL_TONE, "r"), 202)
    data_of(await api.callback(first["job_id"], user.user_id, 0))
    data_of(await api.http.delete(f"/jobs/{parent}", headers=user.headers))
    again = await post_with_key(api, user, path, WALL_TONE, "r")
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (202, "true")
    assert again.json()["data"] == first
