"""`POST /jobs/{id}/analyze`, its callback and `job.analysis`: segmentation before execute."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from s3api.app import create_app
from s3api.context import AppContext
from s3api.settings import Settings
from s3api.worker.messages import WorkMessage
from tests.support.analysis import (
    FLOOR_KEEP_WALL,
    INSTANCES,
    analysis_bodies,
    done_report,
    post_analysis_callback,
    post_analyze,
    run_analysis,
    store_item_objects,
)
from tests.support.databases import application_context
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    pro_user,
    pull,
    queue_bodies,
    uploaded_job,
)


async def analysed_job(api: ApiClient, context: AppContext, user: SignedIn, items: int) -> str:
    """An uploaded job whose every item is analysed for Floor and Wall."""
    job_id = await uploaded_job(api, user, items)
    data_of(await post_analyze(api, user, job_id), 202)
    await run_analysis(api, context)
    return job_id


async def test_analyze_queues_segmentation_only_and_the_job_stays_uploaded(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    data = data_of(await post_analyze(api, user, job_id), 202)
    assert data["queued"] is True
    assert data["analysis"]["status"] == "running"
    assert data["analysis"]["concepts"] == ["Floor", "Wall"]
    assert [item["status"] for item in data["analysis"]["items"]] == ["pending", "pending"]
    [body] = await analysis_bodies(context)
    assert body["kind"] == "analysis"
    assert body["job_id"] == job_id
    assert body["callback_url"] == f"http://testserver/jobs/{job_id}/analysis/callback"
    assert body["concepts"] == ["Floor", "Wall"]
    item = body["items"][0]
    prefix = f"masks/{user.user_id}/{job_id}/0"
    assert item["masks"] == {
        "Floor": {"key": f"{prefix}_Floor.png"},
        "Wall": {"key": f"{prefix}_Wall.png"},
    }
    assert (item["instances_key"], item["overlay_key"]) == (
        f"{prefix}_instances.json",
        f"{prefix}.overlay.png",
    )
    # an edit-only worker finds no output to write and no edits: it refuses the message
    with pytest.raises(ValidationError):
        WorkMessage.model_validate(body)
    job = await api.job(user, job_id)
    assert job["status"] == "uploaded"
    assert job["analysis"]["status"] == "running"


async def test_a_job_never_analysed_shows_a_null_analysis(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    assert (await api.job(user, job_id))["analysis"] is None


async def test_the_pulled_analysis_message_carries_signed_urls(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await post_analyze(api, user, job_id), 202)
    [message] = await pull(api)
    item = message["body"]["items"][0]
    assert (await api.http.get(item["input_url"])).status_code == 200
    for url in (item["masks"]["Floor"]["url"], item["instances_url"], item["overlay_url"]):
        assert (await api.http.put(url, content=b"\x89PNG\r\n\x1a\nmask")).status_code == 200


async def test_a_done_analysis_shows_every_url_and_the_instances(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 2)
    analysis = (await api.job(user, job_id))["analysis"]
    assert analysis["status"] == "done"
    for item in analysis["items"]:
        assert item["status"] == "done"
        assert sorted(item["masks"]) == ["Floor", "Wall"]
        document = (await api.http.get(item["instances_url"])).json()
        assert document["concepts"]["Floor"] == INSTANCES
        overlay = await api.http.get(item["overlay_url"])
        assert overlay.content.startswith(b"\x89PNG")
        mask = await api.http.get(item["masks"]["Wall"])
        assert mask.content.startswith(b"\x89PNG")
    assert (await api.job(user, job_id))["status"] == "uploaded"


async def test_an_edit_message_lists_every_stored_concept_of_the_photo(
    api: ApiClient, context: AppContext
) -> None:
    """The worker rewrites the photo's instances file when it stores a new map, so it must
    know the analysed concepts this edit does not use (here Wall), or the file loses them."""
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    body = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}, "protect": ["Door"]}
    data_of(await api.execute(user, job_id, body), 202)
    [message] = await queue_bodies(context, job_id)
    segmentation = message["items"][0]["segmentation"]
    assert sorted(segmentation["masks"]) == ["Door", "Floor"]
    assert segmentation["known_instances"] == {"Floor": INSTANCES, "Wall": INSTANCES}


async def test_execute_with_exclude_and_lock_carries_the_selection_and_stored_maps(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 2)
    body = {
        **FLOOR_KEEP_WALL,
        "instances": {"0": {"Floor": {"exclude": [2]}, "Wall": {"lock": [1]}}},
    }
    data_of(await api.execute(user, job_id, body), 202)
    [message] = await queue_bodies(context, job_id)
    first, second = message["items"]
    assert first["instances"] == {"Floor": {"exclude": [2]}, "Wall": {"lock": [1]}}
    assert "instances" not in second
    floor = first["segmentation"]["masks"]["Floor"]
    assert floor["stored"] is True
    assert floor["key"] == f"masks/{user.user_id}/{job_id}/0_Floor.png"
    assert first["segmentation"]["known_instances"]["Floor"] == INSTANCES
    [pulled] = await pull(api)
    signed = pulled["body"]["items"][0]["segmentation"]["masks"]["Floor"]
    assert (await api.http.get(signed["url"])).content.startswith(b"\x89PNG")
    assert (await api.http.get(signed["instances_url"])).status_code == 200


async def test_reanalysing_the_same_concepts_is_answered_from_storage(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    data = data_of(await post_analyze(api, user, job_id), 200)
    assert data["queued"] is False
    assert data["analysis"]["status"] == "done"
    assert data["analysis"]["items"][0]["instances_url"] is not None
    assert await analysis_bodies(context) == []


async def test_a_new_concept_segments_only_what_is_missing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    more = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}, "protect": ["Door"]}
    data_of(await post_analyze(api, user, job_id, more), 202)
    [body] = await analysis_bodies(context)
    [item] = body["items"]
    assert item["concepts"] == ["Door"]
    assert sorted(item["known_instances"]) == ["Floor", "Wall"]
    await run_analysis(api, context)
    analysis = (await api.job(user, job_id))["analysis"]
    assert analysis["concepts"] == ["Floor", "Wall", "Door"]
    assert sorted(analysis["items"][0]["masks"]) == ["Door", "Floor", "Wall"]


async def bad_selection(api: ApiClient, user: SignedIn, job_id: str, instances: Any) -> Any:
    response = await api.execute(user, job_id, {**FLOOR_KEEP_WALL, "instances": instances})
    return error_of(response, 400, "VALIDATION_FAILED")["details"]


async def test_bad_selections_are_refused_and_change_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 2)
    details = await bad_selection(api, user, job_id, {"0": {"Floor": {"exclude": [7]}}})
    assert (details["idx"], details["concept"], details["id"]) == (0, "Floor", 7)
    details = await bad_selection(api, user, job_id, {"1": {"Door": {"lock": [1]}}})
    assert (details["idx"], details["concept"]) == (1, "Door")
    details = await bad_selection(api, user, job_id, {"2": {"Floor": {"only": [1]}}})
    assert details["idx"] == "2"
    details = await bad_selection(
        api, user, job_id, {"0": {"Floor": {"only": [1], "exclude": [2]}}}
    )
    assert details["concept"] == "Floor"
    details = await bad_selection(api, user, job_id, {"0": {"Wall": {"exclude": [1]}}})
    assert details["concept"] == "Wall"
    assert (await api.job(user, job_id))["status"] == "uploaded"
    assert await queue_bodies(context, job_id) == []


async def test_another_jobs_idx_is_refused(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    await analysed_job(api, context, user, 3)
    job_id = await analysed_job(api, context, user, 1)
    details = await bad_selection(api, user, job_id, {"2": {"Floor": {"exclude": [1]}}})
    assert details["idx"] == "2"


async def test_a_replayed_callback_is_a_duplicate(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    data_of(await post_analyze(api, user, job_id), 202)
    [body] = await analysis_bodies(context)
    item = body["items"][0]
    await store_item_objects(context, item)
    report = done_report(body, item)
    first = data_of(await post_analysis_callback(api, job_id, report))
    assert (first["processed"], first["duplicate"], first["analysis_status"]) == (
        True,
        False,
        "running",
    )
    again = data_of(await post_analysis_callback(api, job_id, report))
    assert (again["processed"], again["duplicate"]) == (False, True)
    later = {**report, "idempotency_key": f"{job_id}:0:2", "status": "failed"}
    assert data_of(await post_analysis_callback(api, job_id, later))["duplicate"] is True
    analysis = (await api.job(user, job_id))["analysis"]
    assert [item["status"] for item in analysis["items"]] == ["done", "pending"]


async def test_a_done_analysis_without_its_objects_is_refused(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await post_analyze(api, user, job_id), 202)
    [body] = await analysis_bodies(context)
    item = body["items"][0]
    report = done_report(body, item)
    error = error_of(await post_analysis_callback(api, job_id, report), 409, "UPLOAD_INCOMPLETE")
    assert item["masks"]["Floor"]["key"] in error["details"]["missing"]
    await store_item_objects(context, item)
    await context.storage.put_bytes(item["masks"]["Wall"]["key"], b"not a png", "image/png")
    error = error_of(await post_analysis_callback(api, job_id, report), 409, "UPLOAD_INCOMPLETE")
    assert error["details"]["invalid"] == [item["masks"]["Wall"]["key"]]
    assert (await api.job(user, job_id))["analysis"]["items"][0]["status"] == "pending"


async def test_keys_and_instances_must_belong_to_the_item(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    data_of(await post_analyze(api, user, job_id), 202)
    [body] = await analysis_bodies(context)
    item = body["items"][0]
    await store_item_objects(context, item)
    report = done_report(body, item)
    other = body["items"][1]["masks"]["Floor"]["key"]
    wrong_key = {**report, "masks": {**report["masks"], "Floor": other}}
    error_of(await post_analysis_callback(api, job_id, wrong_key), 400, "VALIDATION_FAILED")
    outside = [{"id": 1, "bbox": [14, 0, 4, 4], "area": 16, "score": 0.5}]
    wrong_box = {**report, "instances": {"Floor": outside, "Wall": INSTANCES}}
    error_of(await post_analysis_callback(api, job_id, wrong_box), 400, "VALIDATION_FAILED")
    error_of(
        await post_analysis_callback(
            api, job_id, {**report, "masks": {"Floor": report["masks"]["Floor"]}}
        ),
        400,
        "VALIDATION_FAILED",
    )


async def test_a_second_analysis_in_flight_and_execute_meanwhile_are_409(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    data_of(await post_analyze(api, user, job_id), 202)
    error_of(await post_analyze(api, user, job_id), 409, "ANALYSIS_IN_PROGRESS")
    error_of(await api.execute(user, job_id, FLOOR_KEEP_WALL), 409, "ANALYSIS_IN_PROGRESS")
    assert len(await analysis_bodies(context)) == 1


async def test_only_uploaded_jobs_can_be_analysed(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    created = await api.create_job(user, 1)
    error = error_of(
        await post_analyze(api, user, created["job_id"]), 409, "JOB_INVALID_TRANSITION"
    )
    assert error["details"] == {"status": "created"}
    queued = (await api.queued_job(user, 1))["job_id"]
    error_of(await post_analyze(api, user, queued), 409, "JOB_INVALID_TRANSITION")
    other = await api.sign_in()
    error_of(await post_analyze(api, other, queued), 404, "JOB_NOT_FOUND")


async def test_concepts_are_validated_like_execute(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    error_of(
        await post_analyze(
            api, user, job_id, {"concepts": {"Sofa": {"action": "tone", "value": "warm"}}}
        ),
        400,
        "VALIDATION_FAILED",
    )
    error_of(await post_analyze(api, user, job_id, {"protect": ["Wall"]}), 400, "VALIDATION_FAILED")
    assert await analysis_bodies(context) == []


async def test_cancel_refunds_only_items_no_gpu_work_touched(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 3)
    data_of(await post_analyze(api, user, job_id), 202)
    await run_analysis(api, context, failed=(2,))
    assert (await api.job(user, job_id))["analysis"]["status"] == "done"
    canceled = data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    assert canceled["refunded"] == 1
    assert (await api.me(user))["credits"] == 10 - 2
    await assert_money_invariants(context, user.user_id)


async def test_an_analysed_item_costs_nothing_more_at_execute(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 2)
    data_of(await api.execute(user, job_id, FLOOR_KEEP_WALL), 202)
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 1, status="failed", error="bad"))
    job = await api.job(user, job_id)
    # item 1 failed its edit but its analysis used the GPU: nothing is refunded
    assert (job["status"], job["refunded"]) == ("done", 0)
    assert (await api.me(user))["credits"] == 10 - 2
    await assert_money_invariants(context, user.user_id)


async def test_canceling_during_an_analysis_ends_it(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    data_of(await post_analyze(api, user, job_id), 202)
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    analysis = (await api.job(user, job_id))["analysis"]
    assert analysis["status"] == "failed"
    assert {item["status"] for item in analysis["items"]} == {"failed"}
    [body] = await analysis_bodies(context)
    await store_item_objects(context, body["items"][0])
    late = data_of(await post_analysis_callback(api, job_id, done_report(body, body["items"][0])))
    assert late["processed"] is False
    assert await pull(api) == []  # the run's message is dropped, not handed out
    await assert_money_invariants(context, user.user_id)


@pytest.mark.parametrize(
    "path", ["/jobs/{job_id}/analyze", "/jobs/{job_id}/analysis/callback"], ids=["analyze", "cb"]
)
async def test_analysis_routes_are_absent_when_switched_off(settings: Settings, path: str) -> None:
    """On by default (the reference worker segments analyses); `false` serves neither route."""
    assert Settings.model_fields["analysis_enabled"].default is True
    application = create_app(settings.model_copy(update={"analysis_enabled": False}), migrate=False)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            user = await ApiClient(http, "unused").sign_in()
            response = await http.post(
                path.format(job_id="j1"), json={"concepts": {}}, headers=user.headers
            )
            assert "/jobs/{job_id}/analyze" not in application.openapi()["paths"]
    finally:
        await application_context(application).close()
    error_of(response, 404, "NOT_FOUND")
