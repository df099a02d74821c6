"""`POST /jobs/{id}/callback` (API.md §3.14, §4): auth, validation, first-wins, settlement."""

from __future__ import annotations

from typing import Any

from s3api.context import AppContext
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.factories import ApiClient
from tests.support.jobs import (
    SECRET_HEADERS,
    assert_money_invariants,
    data_of,
    error_of,
    ledger_of,
    post_callback,
    settled_at,
    uploaded_job,
)


def done_body(user_id: str, job_id: str, idx: int, key: str = "k") -> dict[str, Any]:
    """A `done` result with this item's own keys."""
    return {
        "idx": idx,
        "status": "done",
        "output_key": f"outputs/{user_id}/{job_id}/{idx}_result.png",
        "preview_key": f"previews/{user_id}/{job_id}/{idx}_thumb.jpg",
        "idempotency_key": f"{job_id}:{idx}:{key}",
    }


async def test_a_missing_or_wrong_secret_is_callback_unauthorized(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 1))["job_id"]
    body = done_body(user.user_id, job_id, 0)
    for headers in (
        {},
        {"X-Callback-Secret": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TEST_CALLBACK_SECRET}"},
        user.headers,
    ):
        error_of(await post_callback(api, job_id, body, headers), 401, "CALLBACK_UNAUTHORIZED")
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"]) == ("queued", 0)


async def test_the_secret_is_also_accepted_as_a_bearer_token(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    headers = {"Authorization": f"Bearer {TEST_CALLBACK_SECRET}"}
    data = data_of(await post_callback(api, job_id, done_body(user.user_id, job_id, 0), headers))
    assert data["processed"] is True
    assert (await api.job(user, job_id))["done_items"] == 1


async def test_a_result_for_an_unknown_job_is_job_not_found(api: ApiClient) -> None:
    job_id = "00000000-0000-4000-8000-000000000000"
    body = done_body("someone", job_id, 0)
    error_of(await post_callback(api, job_id, body), 404, "JOB_NOT_FOUND")


async def test_an_idx_outside_the_job_is_validation_failed(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    for idx in (-1, 2):
        body = {"idx": idx, "status": "failed", "idempotency_key": f"{job_id}:{idx}"}
        error_of(await post_callback(api, job_id, body), 400, "VALIDATION_FAILED")
    job = await api.job(user, job_id)
    assert (job["status"], job["failed_items"]) == ("queued", 0)


async def test_a_done_result_with_keys_of_another_item_job_or_user_is_refused(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    other = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    other_job = (await api.queued_job(other, 1))["job_id"]
    mine = done_body(user.user_id, job_id, 0)
    foreign_bodies = [
        {**mine, "output_key": done_body(user.user_id, job_id, 1)["output_key"]},
        {**mine, "output_key": done_body(other.user_id, other_job, 0)["output_key"]},
        {**mine, "output_key": f"outputs/{other.user_id}/{job_id}/0_result.png"},
        {**mine, "preview_key": done_body(other.user_id, other_job, 0)["preview_key"]},
        {**mine, "output_key": f"inputs/{user.user_id}/{job_id}/0.jpg"},
    ]
    for body in foreign_bodies:
        error_of(await post_callback(api, job_id, body), 400, "VALIDATION_FAILED")
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"]) == ("queued", 0)


async def test_a_result_before_execute_is_an_invalid_transition(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    job_id = created["job_id"]
    body = done_body(user.user_id, job_id, 0)
    error_of(await post_callback(api, job_id, body), 409, "JOB_INVALID_TRANSITION")
    await api.upload_all(created)
    data_of(await api.confirm(user, job_id))
    error_of(await post_callback(api, job_id, body), 409, "JOB_INVALID_TRANSITION")
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"]) == ("uploaded", 0)


async def test_the_first_result_moves_the_job_from_queued_to_running(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data = data_of(await api.callback(job_id, user.user_id, 1))
    assert data == {"processed": True, "duplicate": False, "job_status": "running"}
    assert (await api.job(user, job_id))["status"] == "running"


async def test_a_repeated_idempotency_key_is_a_duplicate(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="once"))
    again = data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="once"))
    assert again["processed"] is False
    assert again["duplicate"] is True
    assert again["job_status"] == "running"
    assert (await api.job(user, job_id))["done_items"] == 1


async def test_a_repeated_idempotency_key_on_another_idx_records_nothing(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="same"))
    again = data_of(await api.callback(job_id, user.user_id, 1, idempotency_key="same"))
    assert (again["processed"], again["duplicate"]) == (False, True)
    job = await api.job(user, job_id)
    assert [item["status"] for item in job["items"]] == ["done", "pending"]


async def test_the_first_result_of_an_item_wins_over_a_later_one(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="a"))
    late = data_of(await api.callback(job_id, user.user_id, 0, "failed", idempotency_key="b"))
    assert (late["processed"], late["duplicate"]) == (False, True)
    job = await api.job(user, job_id)
    assert (job["done_items"], job["failed_items"]) == (1, 0)
    assert job["items"][0]["status"] == "done"


async def test_a_failed_first_result_is_not_overwritten_by_a_done_one(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 1, "failed", idempotency_key="a"))
    late = data_of(await api.callback(job_id, user.user_id, 1, idempotency_key="b"))
    assert (late["processed"], late["duplicate"]) == (False, True)
    job = await api.job(user, job_id)
    assert (job["done_items"], job["failed_items"]) == (0, 1)
    assert job["download_urls"] == []


async def test_the_last_result_with_a_done_item_finishes_done_and_refunds_failures(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 3))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 1, "failed"))
    last = data_of(await api.callback(job_id, user.user_id, 2))
    assert last == {"processed": True, "duplicate": False, "job_status": "done"}
    assert (await api.job(user, job_id))["status"] == "done"
    me = await api.me(user)
    assert me["credits"] == 10 - 3 + 1
    assert me["concurrent_jobs"] == 0
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [1]
    await assert_money_invariants(context, user.user_id)


async def test_a_job_with_every_item_done_refunds_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    assert data_of(await api.callback(job_id, user.user_id, 1))["job_status"] == "done"
    assert (await api.me(user))["credits"] == 8
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == []
    await assert_money_invariants(context, user.user_id)


async def test_the_last_result_with_no_done_item_fails_the_job_and_refunds_all(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 1, "failed"))
    last = data_of(await api.callback(job_id, user.user_id, 0, "failed"))
    assert last["job_status"] == "failed"
    assert (await api.job(user, job_id))["status"] == "failed"
    assert (await api.me(user))["credits"] == 10
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "refund") == [2]
    await assert_money_invariants(context, user.user_id)


async def test_a_single_item_job_goes_from_queued_straight_to_done(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 1))["job_id"]
    assert data_of(await api.callback(job_id, user.user_id, 0))["job_status"] == "done"
    assert (await api.job(user, job_id))["status"] == "done"


async def test_a_result_after_the_job_is_terminal_changes_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 1))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, "failed", idempotency_key="first"))
    settled = await settled_at(context, job_id)
    late = data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="second"))
    assert late["processed"] is False
    assert late["job_status"] == "failed"
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"], job["failed_items"]) == ("failed", 0, 1)
    assert await settled_at(context, job_id) == settled
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)


async def test_a_malformed_result_is_validation_failed(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    for body in (
        {"idx": 0, "status": "maybe", "idempotency_key": "x"},
        {"idx": 0, "status": "done"},
        {"status": "done", "idempotency_key": "x"},
    ):
        error_of(await post_callback(api, job_id, body), 400, "VALIDATION_FAILED")


async def test_a_replay_of_the_final_result_is_a_duplicate(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0, idempotency_key="first"))
    data_of(await api.callback(job_id, user.user_id, 1, idempotency_key="last"))
    replay = data_of(await api.callback(job_id, user.user_id, 1, idempotency_key="last"))
    assert replay == {"processed": False, "duplicate": True, "job_status": "done"}
    await assert_money_invariants(context, user.user_id)


async def test_a_result_for_an_item_without_one_after_cancel_is_not_a_duplicate(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 2))["job_id"]
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    late = data_of(await api.callback(job_id, user.user_id, 0))
    assert late == {"processed": False, "duplicate": False, "job_status": "canceled"}


async def test_a_nul_byte_in_the_idempotency_key_is_answered_without_an_internal_error(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, 1))["job_id"]
    body = {"idx": 0, "status": "failed", "idempotency_key": "key\x00"}
    response = await post_callback(api, job_id, body)
    if response.status_code == 200:
        assert (await api.job(user, job_id))["status"] == "failed"
    else:
        error_of(response, 400, "VALIDATION_FAILED")
        assert (await api.job(user, job_id))["status"] == "queued"


async def test_a_result_for_a_job_id_with_a_nul_byte_is_job_not_found(api: ApiClient) -> None:
    body = {"idx": 0, "status": "failed", "idempotency_key": "k"}
    response = await api.http.post("/jobs/abc%00/callback", json=body, headers=SECRET_HEADERS)
    error_of(response, 404, "JOB_NOT_FOUND")
