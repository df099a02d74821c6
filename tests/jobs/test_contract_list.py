"""`GET /jobs` (API.md §3.9): newest first, `limit`, and a cursor that walks every job once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from s3api.context import AppContext
from s3api.db.models import Job
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import data_of, error_of


async def make_jobs(api: ApiClient, user: SignedIn, count: int) -> list[str]:
    """`count` jobs of a free user, each canceled to free the slot; oldest first."""
    job_ids = []
    for _ in range(count):
        job_id = (await api.create_job(user, 1))["job_id"]
        data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
        job_ids.append(job_id)
    return job_ids


async def list_page(
    api: ApiClient, user: SignedIn, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `GET /jobs` and its `meta.next_cursor`."""
    response = await api.http.get("/jobs", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    page: list[dict[str, Any]] = body["data"]
    cursor: str | None = body["meta"].get("next_cursor")
    return page, cursor


async def walk(api: ApiClient, user: SignedIn, limit: int) -> list[str]:
    """Every job id reached by following `next_cursor` from the first page."""
    seen: list[str] = []
    page, cursor = await list_page(api, user, limit=limit)
    seen += [job["job_id"] for job in page]
    while cursor:
        assert len(page) == limit
        page, cursor = await list_page(api, user, limit=limit, cursor=cursor)
        seen += [job["job_id"] for job in page]
    return seen


async def test_jobs_are_listed_newest_first(api: ApiClient) -> None:
    user = await api.sign_in()
    job_ids = await make_jobs(api, user, 3)
    page, _ = await list_page(api, user)
    assert [job["job_id"] for job in page] == job_ids[::-1]


async def test_each_entry_has_status_preset_timestamp_and_progress(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 3))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 2, "failed"))
    [entry], _ = await list_page(api, user)
    assert entry["job_id"] == job_id
    assert entry["status"] == "running"
    assert entry["preset"] == "interior"
    assert entry["created_at"].endswith("Z")
    assert entry["progress"] == {"done": 1, "failed": 1, "total": 3}


async def test_limit_outside_1_to_100_is_validation_failed(api: ApiClient) -> None:
    user = await api.sign_in()
    for limit in ("0", "101", "-1", "ten"):
        response = await api.http.get("/jobs", params={"limit": limit}, headers=user.headers)
        error_of(response, 400, "VALIDATION_FAILED")


async def test_limit_1_and_100_are_accepted(api: ApiClient) -> None:
    user = await api.sign_in()
    await make_jobs(api, user, 2)
    page, cursor = await list_page(api, user, limit=1)
    assert len(page) == 1
    assert cursor
    page, cursor = await list_page(api, user, limit=100)
    assert len(page) == 2
    assert cursor is None


async def test_next_cursor_is_absent_when_the_page_holds_the_last_job(api: ApiClient) -> None:
    user = await api.sign_in()
    await make_jobs(api, user, 3)
    page, cursor = await list_page(api, user, limit=3)
    assert len(page) == 3
    assert cursor is None
    last = await api.http.get("/jobs", params={"limit": 3}, headers=user.headers)
    assert "next_cursor" not in last.json()["meta"]  # absent, not null (docs/api.md)
    _, cursor = await list_page(api, user, limit=2)
    assert cursor


async def test_following_next_cursor_walks_every_job_exactly_once(api: ApiClient) -> None:
    user = await api.sign_in()
    job_ids = await make_jobs(api, user, 5)
    assert await walk(api, user, 2) == job_ids[::-1]


async def test_the_walk_is_exact_when_jobs_share_a_creation_time(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_ids = await make_jobs(api, user, 5)
    moment = datetime(2026, 2, 19, 12, 34, 56, 789000, tzinfo=UTC)
    async with context.database.transaction() as connection:
        await connection.execute(
            update(Job).where(Job.user_id == user.user_id).values(created_at=moment)
        )
    seen = await walk(api, user, 2)
    assert sorted(seen) == sorted(job_ids)
    assert len(seen) == len(set(seen)) == 5


async def test_jobs_created_between_pages_do_not_shift_the_walk(api: ApiClient) -> None:
    user = await api.sign_in()
    job_ids = await make_jobs(api, user, 4)
    first, cursor = await list_page(api, user, limit=2)
    newer = await make_jobs(api, user, 2)
    second, last_cursor = await list_page(api, user, limit=2, cursor=cursor)
    assert [job["job_id"] for job in first + second] == job_ids[::-1]
    assert last_cursor is None
    fresh, _ = await list_page(api, user, limit=2)
    assert [job["job_id"] for job in fresh] == newer[::-1]


async def test_a_garbage_cursor_is_validation_failed(api: ApiClient) -> None:
    user = await api.sign_in()
    await make_jobs(api, user, 1)
    garbage = [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"yesterday|some-id").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        "x" * 500,
    ]
    for cursor in garbage:
        response = await api.http.get("/jobs", params={"cursor": cursor}, headers=user.headers)
        error_of(response, 400, "VALIDATION_FAILED")


async def test_listing_without_a_token_is_auth_required(http: httpx.AsyncClient) -> None:
    error_of(await http.get("/jobs"), 401, "AUTH_REQUIRED")


async def test_a_cursor_whose_time_cannot_be_expressed_in_utc_is_validation_failed(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    await make_jobs(api, user, 1)
    for raw in (b"9999-12-31T23:59:59-23:00|x", b"0001-01-01T00:00:00+23:00|x"):
        cursor = base64.urlsafe_b64encode(raw).decode()
        response = await api.http.get("/jobs", params={"cursor": cursor}, headers=user.headers)
        error_of(response, 400, "VALIDATION_FAILED")


async def test_a_cursor_with_a_nul_byte_is_answered_without_an_internal_error(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    await make_jobs(api, user, 1)
    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|\x00").decode()
    response = await api.http.get("/jobs", params={"cursor": cursor}, headers=user.headers)
    if response.status_code != 200:
        error_of(response, 400, "VALIDATION_FAILED")


async def test_the_default_page_holds_fifty_jobs(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    for _ in range(51):
        job = await context.lifecycle.create_job(user.user_id, "interior", 1)
        await context.lifecycle.cancel_job(user.user_id, job.id)
    page, cursor = await list_page(api, user)
    assert len(page) == 50
    assert cursor
    rest, last = await list_page(api, user, cursor=cursor)
    assert len(rest) == 1
    assert last is None
