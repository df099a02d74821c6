"""`POST /jobs` (API.md §3.10): shape, validation, plan limits, error order, reservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from s3api.context import AppContext
from s3api.db.models import Job
from s3api.settings import Settings
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    ledger_of,
    post_job,
    pro_user,
)

UPLOAD_URL_LIFETIME_SECONDS = Settings.model_fields["upload_url_ttl_seconds"].default


async def assert_nothing_created(api: ApiClient, context: AppContext, user: SignedIn) -> None:
    """A refused create leaves no job, no reservation and the sign-up credits."""
    async with context.database.read() as connection:
        query = select(func.count()).select_from(Job).where(Job.user_id == user.user_id)
        assert (await connection.execute(query)).scalar_one() == 0
    assert (await api.me(user))["credits"] == 10
    assert [kind for kind, _, _ in (await ledger_of(context, user.user_id)).rows] == ["grant"]


async def test_create_answers_201_with_one_upload_url_per_item(api: ApiClient) -> None:
    user = await api.sign_in()
    data = data_of(await post_job(api, user, {"preset": "interior", "item_count": 3}), 201)
    job_id = data["job_id"]
    assert isinstance(job_id, str)
    assert job_id
    assert data["status"] == "created"
    assert [entry["idx"] for entry in data["presigned_urls"]] == [0, 1, 2]
    for entry in data["presigned_urls"]:
        assert entry["key"] == f"inputs/{user.user_id}/{job_id}/{entry['idx']}.jpg"
        assert entry["url"].startswith("http://testserver/")
    assert len({entry["url"] for entry in data["presigned_urls"]}) == 3
    assert data["confirm_url"] == f"http://testserver/jobs/{job_id}/confirm-upload"


async def test_expires_at_is_an_iso_utc_timestamp_one_upload_url_lifetime_ahead(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    before = datetime.now(UTC)
    created = await api.create_job(user, 1)
    after = datetime.now(UTC)
    assert created["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    margin = timedelta(seconds=5)
    lifetime = timedelta(seconds=UPLOAD_URL_LIFETIME_SECONDS)
    assert before + lifetime - margin <= expires <= after + lifetime + margin


async def test_each_upload_url_stores_the_bytes_put_to_it(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    for entry in created["presigned_urls"]:
        body = jpeg_bytes(color=(entry["idx"] * 100, 0, 0))
        response = await api.http.put(
            entry["url"], content=body, headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code in (200, 201, 204), response.text
        assert await context.storage.get_bytes(entry["key"]) == body


INVALID_ITEM_COUNTS: list[dict[str, Any]] = [
    {"preset": "interior", "item_count": 0},
    {"preset": "interior", "item_count": 201},
    {"preset": "interior", "item_count": -1},
    {"preset": "interior", "item_count": 1.5},
    {"preset": "interior", "item_count": "3"},
    {"preset": "interior", "item_count": True},
    {"preset": "interior", "item_count": None},
    {"preset": "interior"},
]


async def test_item_count_outside_integers_1_to_200_is_invalid_item_count(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    for body in INVALID_ITEM_COUNTS:
        error_of(await post_job(api, user, body), 400, "INVALID_ITEM_COUNT")
    await assert_nothing_created(api, context, user)


async def test_unknown_missing_or_non_string_preset_is_invalid_preset(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    for body in (
        {"preset": "kitchen", "item_count": 1},
        {"item_count": 1},
        {"preset": 7, "item_count": 1},
    ):
        error_of(await post_job(api, user, body), 400, "INVALID_PRESET")
    await assert_nothing_created(api, context, user)


async def test_more_items_than_the_free_plan_allows_is_item_limit(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    error_of(await post_job(api, user, {"preset": "seller", "item_count": 11}), 403, "ITEM_LIMIT")
    await assert_nothing_created(api, context, user)


async def test_second_active_job_on_the_free_plan_is_concurrency_limit(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    await api.create_job(user, 1)
    response = await post_job(api, user, {"preset": "interior", "item_count": 1})
    error_of(response, 429, "CONCURRENCY_LIMIT")
    assert (await api.me(user))["credits"] == 9
    assert (await api.me(user))["concurrent_jobs"] == 1


async def test_too_few_credits_is_insufficient_credits_and_reserves_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    await api.create_job(user, 8)
    response = await post_job(api, user, {"preset": "interior", "item_count": 3})
    error_of(response, 402, "INSUFFICIENT_CREDITS")
    assert (await api.me(user))["credits"] == 2
    assert (await api.me(user))["concurrent_jobs"] == 1
    await assert_money_invariants(context, user.user_id)


async def test_exactly_the_remaining_credits_can_be_reserved(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    await api.create_job(user, 8)
    await api.create_job(user, 2)
    assert (await api.me(user))["credits"] == 0
    await assert_money_invariants(context, user.user_id)


async def test_item_count_is_reported_before_preset(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await post_job(api, user, {"preset": "nope", "item_count": 0})
    error_of(response, 400, "INVALID_ITEM_COUNT")


async def test_preset_is_reported_before_item_limit(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await post_job(api, user, {"preset": "nope", "item_count": 11})
    error_of(response, 400, "INVALID_PRESET")


async def test_preset_is_reported_before_concurrency(api: ApiClient) -> None:
    user = await api.sign_in()
    await api.create_job(user, 1)
    response = await post_job(api, user, {"preset": "nope", "item_count": 1})
    error_of(response, 400, "INVALID_PRESET")


async def test_item_limit_is_reported_before_concurrency(api: ApiClient) -> None:
    user = await api.sign_in()
    await api.create_job(user, 1)
    response = await post_job(api, user, {"preset": "interior", "item_count": 11})
    error_of(response, 403, "ITEM_LIMIT")


async def test_item_limit_is_reported_before_credits(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await post_job(api, user, {"preset": "interior", "item_count": 11})
    error_of(response, 403, "ITEM_LIMIT")


async def test_concurrency_is_reported_before_credits(api: ApiClient) -> None:
    user = await api.sign_in()
    await api.create_job(user, 10)
    assert (await api.me(user))["credits"] == 0
    response = await post_job(api, user, {"preset": "interior", "item_count": 1})
    error_of(response, 429, "CONCURRENCY_LIMIT")


async def test_create_reserves_the_item_count_in_the_ledger(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 3)
    me = await api.me(user)
    assert me["credits"] == 7
    assert me["concurrent_jobs"] == 1
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(created["job_id"], "reserve") == [-3]
    await assert_money_invariants(context, user.user_id)


async def test_new_job_is_listed_at_once_as_created(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 3, preset="seller")
    response = await api.http.get("/jobs", headers=user.headers)
    assert response.status_code == 200
    [entry] = response.json()["data"]
    assert entry["job_id"] == created["job_id"]
    assert entry["status"] == "created"
    assert entry["preset"] == "seller"
    assert entry["progress"] == {"done": 0, "failed": 0, "total": 3}


async def test_pro_user_runs_three_jobs_at_once_and_not_four(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    for _ in range(3):
        await api.create_job(user, 1)
    response = await post_job(api, user, {"preset": "interior", "item_count": 1})
    error_of(response, 429, "CONCURRENCY_LIMIT")
    assert (await api.me(user))["concurrent_jobs"] == 3


async def test_pro_user_may_create_a_job_of_200_items(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context, extra_credits=190)
    created = await api.create_job(user, 200)
    assert len(created["presigned_urls"]) == 200
    assert created["presigned_urls"][-1]["idx"] == 199
    assert (await api.me(user))["credits"] == 0
    await assert_money_invariants(context, user.user_id)


async def test_unknown_body_fields_are_ignored(api: ApiClient) -> None:
    user = await api.sign_in()
    body = {"preset": "interior", "item_count": 1, "colour": "blue"}
    assert data_of(await post_job(api, user, body), 201)["status"] == "created"


async def test_create_without_a_token_is_auth_required(api: ApiClient) -> None:
    response = await api.http.post("/jobs", json={"preset": "interior", "item_count": 1})
    error_of(response, 401, "AUTH_REQUIRED")


async def test_malformed_json_is_validation_failed(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.post(
        "/jobs",
        content=b'{"preset": "interior", "item_count":',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    error_of(response, 400, "VALIDATION_FAILED")
