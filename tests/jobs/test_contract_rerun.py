"""`POST /jobs/{id}/rerun`: a new job over a finished job's inputs, reserved and queued at once."""

from __future__ import annotations

from typing import Any

import httpx

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    WALL_TONE,
    assert_money_invariants,
    data_of,
    error_of,
    grant,
    ledger_of,
    queue_bodies,
)
from tests.support.object_stores import finished_job, object_keys


async def post_rerun(
    api: ApiClient, user: SignedIn, job_id: str, body: dict[str, Any] | None
) -> httpx.Response:
    """`POST /jobs/{id}/rerun` with an arbitrary body."""
    return await api.http.post(f"/jobs/{job_id}/rerun", json=body, headers=user.headers)


async def test_rerun_queues_a_new_job_over_the_parents_inputs_without_uploads(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    data = data_of(await post_rerun(api, user, parent, WALL_TONE), 202)
    assert data["parent_job_id"] == parent
    assert (data["status"], data["item_count"]) == ("queued", 2)
    [message] = await queue_bodies(context, data["job_id"])
    assert [item["input_key"] for item in message["items"]] == object_keys(user, parent, 2)[
        "inputs"
    ]
    assert [item["output_key"] for item in message["items"]] == object_keys(
        user, data["job_id"], 2
    )["outputs"]
    assert message["concepts"] == WALL_TONE["concepts"]
    job = await api.job(user, data["job_id"])
    assert (job["status"], job["parent_job_id"], job["expired"]) == ("queued", parent, False)
    assert (await api.job(user, parent))["parent_job_id"] is None
    assert (await ledger_of(context, user.user_id)).of_job(data["job_id"], "reserve") == [-2]
    assert (await api.me(user))["credits"] == 10 - 2 - 2


async def test_rerun_of_failed_items_only_takes_the_failed_ones(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 3, failed=(0, 2))
    body = {**WALL_TONE, "items": "failed"}
    data = data_of(await post_rerun(api, user, parent, body), 202)
    assert data["item_count"] == 2
    [message] = await queue_bodies(context, data["job_id"])
    inputs = object_keys(user, parent, 3)["inputs"]
    assert [item["input_key"] for item in message["items"]] == [inputs[0], inputs[2]]
    assert [item["idx"] for item in message["items"]] == [0, 1]


async def test_the_rerun_job_finishes_through_callbacks_and_settles(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    rerun = data_of(await post_rerun(api, user, parent, WALL_TONE), 202)["job_id"]
    data_of(await api.callback(rerun, user.user_id, 0))
    data_of(await api.callback(rerun, user.user_id, 1, status="failed", error="bad"))
    job = await api.job(user, rerun)
    assert (job["status"], job["refunded"], job["parent_job_id"]) == ("done", 1, parent)
    await assert_money_invariants(context, user.user_id)


async def test_rerun_with_a_saved_rule(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    rule = {"name": "r", "preset_id": "interior", "concepts": {"Light": {"action": "remove"}}}
    rule_id = data_of(await api.http.post("/rules", json=rule, headers=user.headers), 201)["rule"][
        "id"
    ]
    parent = await finished_job(api, context, user, 1)
    data = data_of(await post_rerun(api, user, parent, {"rule_id": rule_id}), 202)
    [message] = await queue_bodies(context, data["job_id"])
    assert list(message["concepts"]) == ["Light"]


async def test_rerun_protects_exactly_the_list_sent_or_else_the_defaults(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    protects: list[Any] = []
    extras: list[dict[str, Any]] = [{"protect": []}, {"protect": ["Door"]}, {}]
    for extra in extras:
        data = data_of(await post_rerun(api, user, parent, {**WALL_TONE, **extra}), 202)
        [message] = await queue_bodies(context, data["job_id"])
        protects.append(message["protect"])
        data_of(await api.http.post(f"/jobs/{data['job_id']}/cancel", headers=user.headers))
    assert protects == [[], ["Door"], ["Grout", "Frame_Molding", "Glass_highlight"]]


async def test_rerun_with_a_rule_saved_without_protect_keeps_the_defaults(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    rule = {"name": "r", "preset_id": "interior", "concepts": {"Grout": {"action": "remove"}}}
    rule_id = data_of(await api.http.post("/rules", json=rule, headers=user.headers), 201)["rule"][
        "id"
    ]
    parent = await finished_job(api, context, user, 1)
    data = data_of(await post_rerun(api, user, parent, {"rule_id": rule_id}), 202)
    [message] = await queue_bodies(context, data["job_id"])
    assert message["protect"] == ["Frame_Molding", "Glass_highlight"]


async def test_rerun_of_an_unfinished_or_canceled_job_is_refused(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    queued = (await api.queued_job(user, 1))["job_id"]
    error = error_of(await post_rerun(api, user, queued, WALL_TONE), 409, "JOB_INVALID_TRANSITION")
    assert error["details"] == {"status": "queued"}
    data_of(await api.http.post(f"/jobs/{queued}/cancel", headers=user.headers))
    error_of(await post_rerun(api, user, queued, WALL_TONE), 409, "JOB_INVALID_TRANSITION")
    assert (await api.me(user))["credits"] == 10
    await assert_money_invariants(context, user.user_id)


async def test_rerun_of_failed_items_when_none_failed_is_refused(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    response = await post_rerun(api, user, parent, {**WALL_TONE, "items": "failed"})
    error_of(response, 409, "JOB_INVALID_TRANSITION")
    assert (await api.me(user))["credits"] == 9


async def test_rerun_checks_edits_credits_and_concurrency(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    error_of(await post_rerun(api, user, parent, {}), 400, "VALIDATION_FAILED")
    error_of(await post_rerun(api, user, parent, {"items": "some"}), 400, "VALIDATION_FAILED")
    busy = (await api.queued_job(user, 1))["job_id"]
    error_of(await post_rerun(api, user, parent, WALL_TONE), 429, "CONCURRENCY_LIMIT")
    data_of(await api.http.post(f"/jobs/{busy}/cancel", headers=user.headers))
    await grant(context, user.user_id, -7)
    error = error_of(await post_rerun(api, user, parent, WALL_TONE), 402, "INSUFFICIENT_CREDITS")
    assert error["details"] == {"credits": 1, "required": 2}
    await assert_money_invariants(context, user.user_id)


async def test_rerun_of_another_users_job_is_not_found(api: ApiClient, context: AppContext) -> None:
    owner = await api.sign_in()
    other = await api.sign_in()
    parent = await finished_job(api, context, owner, 1)
    error_of(await post_rerun(api, other, parent, WALL_TONE), 404, "JOB_NOT_FOUND")
    error_of(await post_rerun(api, owner, "not-a-job", WALL_TONE), 404, "JOB_NOT_FOUND")
