"""`POST /jobs/{id}/execute` (API.md §3.12, §6): edits, rules and the one GPU message."""

from __future__ import annotations

import asyncio
from typing import Any

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    FLOOR_OAK,
    data_of,
    error_of,
    queue_bodies,
    uploaded_job,
)

INTERIOR_PROTECT_DEFAULTS = ["Grout", "Frame_Molding", "Glass_highlight"]


async def create_rule(
    api: ApiClient,
    user: SignedIn,
    preset_id: str,
    concepts: dict[str, Any],
    protect: list[str],
) -> str:
    """`POST /rules`; the new rule's id."""
    body = {"name": "my rule", "preset_id": preset_id, "concepts": concepts, "protect": protect}
    data = data_of(await api.http.post("/rules", json=body, headers=user.headers), 201)
    rule_id: str = data["rule"]["id"]
    return rule_id


async def assert_still_uploaded_without_message(
    api: ApiClient, context: AppContext, user: SignedIn, job_id: str
) -> None:
    """A refused execute leaves the job `uploaded` and the queue without its message."""
    assert (await api.job(user, job_id))["status"] == "uploaded"
    assert await queue_bodies(context, job_id) == []


async def test_execute_answers_202_queued_and_the_job_is_queued(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    data = data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    assert data == {"queued": True, "status": "queued"}
    assert (await api.job(user, job_id))["status"] == "queued"


async def test_execute_enqueues_one_message_shaped_as_the_gpu_contract(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    [body] = await queue_bodies(context)
    assert body["job_id"] == job_id
    assert body["user_id"] == user.user_id
    assert body["preset"] == "interior"
    assert body["concepts"] == {"Floor": {"action": "recolor", "value": "oak_a"}}
    assert [{k: v for k, v in item.items() if k != "segmentation"} for item in body["items"]] == [
        {
            "idx": idx,
            "input_key": f"inputs/{user.user_id}/{job_id}/{idx}.jpg",
            "output_key": f"outputs/{user.user_id}/{job_id}/{idx}_result.png",
            "preview_key": f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg",
        }
        for idx in range(2)
    ]
    # nothing is stored yet: every concept's label map is to be stored by the worker
    for idx, item in enumerate(body["items"]):
        segmentation = item["segmentation"]
        assert set(segmentation["masks"]) == {"Floor", *body["protect"]}
        assert segmentation["masks"]["Floor"] == {
            "key": f"masks/{user.user_id}/{job_id}/{idx}_Floor.png",
            "stored": False,
        }
        assert segmentation["instances_key"] == (
            f"masks/{user.user_id}/{job_id}/{idx}_instances.json"
        )
        assert segmentation["known_instances"] == {}
    assert body["callback_url"] == f"http://testserver/jobs/{job_id}/callback"
    assert body["idempotency_prefix"] == job_id
    assert body["batch_concurrency"] == context.settings.queue_batch_concurrency


async def test_callback_url_comes_from_the_public_base_url_not_the_host_header(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    response = await api.http.post(
        f"/jobs/{job_id}/execute",
        json=FLOOR_OAK,
        headers={**user.headers, "Host": "evil.example"},
    )
    data_of(response, 202)
    [body] = await queue_bodies(context, job_id)
    assert body["callback_url"] == f"http://testserver/jobs/{job_id}/callback"


async def test_protect_defaults_to_the_presets_protect_defaults(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    [body] = await queue_bodies(context, job_id)
    assert sorted(body["protect"]) == sorted(INTERIOR_PROTECT_DEFAULTS)


async def test_inline_protect_replaces_the_defaults(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, {**FLOOR_OAK, "protect": ["Wall"]}), 202)
    [body] = await queue_bodies(context, job_id)
    assert body["protect"] == ["Wall"]


async def test_an_empty_protect_list_protects_nothing(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, {**FLOOR_OAK, "protect": []}), 202)
    [body] = await queue_bodies(context, job_id)
    assert body["protect"] == []


async def test_without_protect_an_edited_default_is_not_protected(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    grout = {"concepts": {"Grout": {"action": "recolor", "value": "#FFFFFF"}}}
    data_of(await api.execute(user, job_id, grout), 202)
    [body] = await queue_bodies(context, job_id)
    assert body["protect"] == ["Frame_Molding", "Glass_highlight"]


async def test_a_rule_saved_with_an_empty_protect_list_protects_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    rule_id = await create_rule(api, user, "interior", FLOOR_OAK["concepts"], [])
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, {"rule_id": rule_id}), 202)
    [body] = await queue_bodies(context, job_id)
    assert body["protect"] == []


async def test_a_rule_supplies_concepts_and_protect_and_inline_values_are_ignored(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    wall = {"Wall": {"action": "tone", "value": "warm"}}
    rule_id = await create_rule(api, user, "interior", wall, ["Tile"])
    job_id = await uploaded_job(api, user, 1)
    body = {"rule_id": rule_id, "protect": ["Door"], **FLOOR_OAK}
    data_of(await api.execute(user, job_id, body), 202)
    [message] = await queue_bodies(context, job_id)
    assert message["concepts"] == wall
    assert message["protect"] == ["Tile"]


async def test_a_rule_works_without_inline_concepts(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    rule_id = await create_rule(api, user, "interior", {"Light": {"action": "remove"}}, [])
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, {"rule_id": rule_id}), 202)
    [message] = await queue_bodies(context, job_id)
    assert list(message["concepts"]) == ["Light"]
    assert message["concepts"]["Light"]["action"] == "remove"


async def test_another_users_rule_is_rule_not_found(api: ApiClient, context: AppContext) -> None:
    owner = await api.sign_in()
    rule_id = await create_rule(api, owner, "interior", FLOOR_OAK["concepts"], [])
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    error_of(await api.execute(user, job_id, {"rule_id": rule_id}), 404, "RULE_NOT_FOUND")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_an_unknown_rule_is_rule_not_found(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    body = {"rule_id": "00000000-0000-4000-8000-000000000000", **FLOOR_OAK}
    error_of(await api.execute(user, job_id, body), 404, "RULE_NOT_FOUND")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_a_rule_of_another_preset_is_validation_failed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    rule_id = await create_rule(
        api, user, "seller", {"Body": {"action": "recolor", "value": "#FF0000"}}, []
    )
    job_id = await uploaded_job(api, user, 1)
    error_of(await api.execute(user, job_id, {"rule_id": rule_id}), 400, "VALIDATION_FAILED")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_empty_or_missing_concepts_without_a_rule_are_validation_failed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    url = f"/jobs/{job_id}/execute"
    bodies: list[dict[str, Any]] = [{"concepts": {}}, {}, {"protect": ["Wall"]}, {"concepts": None}]
    for body in bodies:
        response = await api.http.post(url, json=body, headers=user.headers)
        error_of(response, 400, "VALIDATION_FAILED")
    no_body = await api.http.post(url, headers={**user.headers, "Content-Type": "application/json"})
    error_of(no_body, 400, "VALIDATION_FAILED")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_a_concept_outside_the_jobs_preset_is_validation_failed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    for concepts in (
        {"Sky": {"action": "recolor", "value": "#00FF00"}},
        {"Body": {"action": "recolor", "value": "#00FF00"}},
    ):
        response = await api.execute(user, job_id, {"concepts": concepts})
        error_of(response, 400, "VALIDATION_FAILED")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_an_unknown_protect_name_or_action_is_validation_failed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    for body in (
        {**FLOOR_OAK, "protect": ["Logo"]},
        {"concepts": {"Floor": {"action": "paint", "value": "oak_a"}}},
        {"concepts": {"Floor": {"action": "recolor"}}},
    ):
        error_of(await api.execute(user, job_id, body), 400, "VALIDATION_FAILED")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_execute_on_a_created_job_is_an_invalid_transition(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    response = await api.execute(user, created["job_id"], FLOOR_OAK)
    error_of(response, 409, "JOB_INVALID_TRANSITION")
    assert (await api.job(user, created["job_id"]))["status"] == "created"
    assert await queue_bodies(context) == []


async def test_execute_twice_is_an_invalid_transition_and_enqueues_once(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    second = {"concepts": {"Wall": {"action": "recolor", "value": "#FFFFFF"}}}
    error_of(await api.execute(user, job_id, second), 409, "JOB_INVALID_TRANSITION")
    [body] = await queue_bodies(context)
    assert body["concepts"] == FLOOR_OAK["concepts"]
    assert (await api.job(user, job_id))["status"] == "queued"


async def test_a_refused_execute_can_be_corrected_and_retried(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    error_of(await api.execute(user, job_id, {"concepts": {}}), 400, "VALIDATION_FAILED")
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    assert len(await queue_bodies(context, job_id)) == 1


async def test_execute_on_a_canceled_job_is_an_invalid_transition(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    error_of(await api.execute(user, job_id, FLOOR_OAK), 409, "JOB_INVALID_TRANSITION")
    assert await queue_bodies(context) == []


async def test_racing_executes_queue_the_job_once(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    responses = await asyncio.gather(*(api.execute(user, job_id, FLOOR_OAK) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [202] + [409] * 5
    assert len(await queue_bodies(context)) == 1


async def test_a_rule_id_with_a_nul_byte_is_refused_as_invalid_input(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    error_of(await api.execute(user, job_id, {"rule_id": "rule\x00"}), 400, "VALIDATION_FAILED")
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_execute_ignores_unknown_fields_and_accepts_a_preset_template(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    body = {**FLOOR_OAK, "output_template": "전후비교", "priority": "high"}
    assert data_of(await api.execute(user, job_id, body), 202)["status"] == "queued"
    assert len(await queue_bodies(context, job_id)) == 1
