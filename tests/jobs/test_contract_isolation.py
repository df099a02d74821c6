"""Another user's job is reported exactly like a missing one (API.md §1, §7) and is untouched."""

from __future__ import annotations

from typing import Any

import httpx

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    FLOOR_OAK,
    assert_money_invariants,
    data_of,
    error_of,
    queue_bodies,
    uploaded_job,
)

MISSING_JOB = "00000000-0000-4000-8000-000000000000"


async def call(api: ApiClient, user: SignedIn, route: str, job_id: str) -> httpx.Response:
    """One of the user-facing job routes on `job_id`, with a body that would be valid."""
    if route == "get":
        return await api.http.get(f"/jobs/{job_id}", headers=user.headers)
    body: dict[str, Any] | None = FLOOR_OAK if route == "execute" else None
    return await api.http.post(f"/jobs/{job_id}/{route}", json=body, headers=user.headers)


async def assert_hidden(api: ApiClient, intruder: SignedIn, route: str, job_id: str) -> None:
    """The route answers for another user's job exactly as for a job that does not exist."""
    foreign = error_of(await call(api, intruder, route, job_id), 404, "JOB_NOT_FOUND")
    missing = error_of(await call(api, intruder, route, MISSING_JOB), 404, "JOB_NOT_FOUND")
    assert foreign == missing
    assert job_id not in str(foreign)


async def test_another_users_job_is_not_found_on_get(api: ApiClient) -> None:
    owner, intruder = await api.sign_in(), await api.sign_in()
    job_id = (await api.create_job(owner, 1))["job_id"]
    await assert_hidden(api, intruder, "get", job_id)


async def test_another_users_job_is_not_found_on_confirm_and_stays_created(
    api: ApiClient, context: AppContext
) -> None:
    owner, intruder = await api.sign_in(), await api.sign_in()
    created = await api.create_job(owner, 2)
    await api.upload_all(created)
    await assert_hidden(api, intruder, "confirm-upload", created["job_id"])
    assert (await api.job(owner, created["job_id"]))["status"] == "created"
    await assert_money_invariants(context, owner.user_id)


async def test_another_users_job_is_not_found_on_execute_and_is_not_queued(
    api: ApiClient, context: AppContext
) -> None:
    owner, intruder = await api.sign_in(), await api.sign_in()
    job_id = await uploaded_job(api, owner, 2)
    await assert_hidden(api, intruder, "execute", job_id)
    assert (await api.job(owner, job_id))["status"] == "uploaded"
    assert await queue_bodies(context) == []


async def test_another_users_job_is_not_found_on_cancel_and_keeps_its_credits(
    api: ApiClient, context: AppContext
) -> None:
    owner, intruder = await api.sign_in(), await api.sign_in()
    job_id = (await api.queued_job(owner, 3))["job_id"]
    await assert_hidden(api, intruder, "cancel", job_id)
    assert (await api.job(owner, job_id))["status"] == "queued"
    assert (await api.me(owner))["credits"] == 7
    assert (await api.me(intruder))["credits"] == 10
    assert (await api.me(owner))["concurrent_jobs"] == 1
    await assert_money_invariants(context, owner.user_id)
    await assert_money_invariants(context, intruder.user_id)


async def test_an_unknown_job_id_is_not_found_on_every_route(api: ApiClient) -> None:
    user = await api.sign_in()
    for route in ("get", "confirm-upload", "execute", "cancel"):
        for job_id in (MISSING_JOB, "no-such-job"):
            error_of(await call(api, user, route, job_id), 404, "JOB_NOT_FOUND")


async def test_another_users_jobs_are_not_listed(api: ApiClient) -> None:
    owner, other = await api.sign_in(), await api.sign_in()
    mine = (await api.create_job(owner, 1))["job_id"]
    await api.create_job(other, 1)
    response = await api.http.get("/jobs", headers=owner.headers)
    assert response.status_code == 200
    assert [job["job_id"] for job in response.json()["data"]] == [mine]


async def test_the_owner_can_still_use_a_job_an_intruder_probed(api: ApiClient) -> None:
    owner, intruder = await api.sign_in(), await api.sign_in()
    created = await api.create_job(owner, 1)
    await api.upload_all(created)
    for route in ("get", "confirm-upload", "execute", "cancel"):
        error_of(await call(api, intruder, route, created["job_id"]), 404, "JOB_NOT_FOUND")
    data_of(await api.confirm(owner, created["job_id"]))
    data_of(await api.execute(owner, created["job_id"], FLOOR_OAK), 202)
    assert (await api.job(owner, created["job_id"]))["status"] == "queued"


async def test_a_job_id_with_a_nul_byte_is_not_found_on_every_route(api: ApiClient) -> None:
    user = await api.sign_in()
    for route in ("get", "confirm-upload", "execute", "cancel"):
        response = await call(api, user, route, "abc%00def")
        error_of(response, 404, "JOB_NOT_FOUND")
