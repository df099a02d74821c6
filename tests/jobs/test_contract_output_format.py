"""`output_format` of execute and rerun: the result keys, the message, the callback check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    FLOOR_OAK,
    data_of,
    error_of,
    job_row,
    post_callback,
    queue_bodies,
    uploaded_job,
)
from tests.support.object_stores import existing, finished_job

ALLOWED = ["png", "jpeg", "webp"]
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


def result_keys(user: SignedIn, job_id: str, extension: str, count: int) -> list[str]:
    return [f"outputs/{user.user_id}/{job_id}/{idx}_result.{extension}" for idx in range(count)]


def done_body(user: SignedIn, job_id: str, idx: int, extension: str) -> dict[str, Any]:
    return {
        "idx": idx,
        "status": "done",
        "idempotency_key": f"{job_id}:{idx}:1",
        "output_key": f"outputs/{user.user_id}/{job_id}/{idx}_result.{extension}",
        "preview_key": f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg",
    }


async def executed_job(api: ApiClient, user: SignedIn, output_format: str, count: int = 2) -> str:
    job_id = await uploaded_job(api, user, count)
    body = {**FLOOR_OAK, "output_format": output_format}
    data_of(await api.execute(user, job_id, body), 202)
    return job_id


async def post_rerun(
    api: ApiClient, user: SignedIn, job_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.http.post(f"/jobs/{job_id}/rerun", json=body, headers=user.headers)


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
async def test_execute_with_a_format_gives_the_items_keys_of_its_extension(
    api: ApiClient, context: AppContext, output_format: str
) -> None:
    user = await api.sign_in()
    job_id = await executed_job(api, user, output_format)
    [body] = await queue_bodies(context, job_id)
    assert body["output_format"] == output_format
    expected = result_keys(user, job_id, EXTENSIONS[output_format], 2)
    assert [item["output_key"] for item in body["items"]] == expected
    assert [item["preview_key"] for item in body["items"]] == [
        f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg" for idx in range(2)
    ]
    assert (await job_row(context, job_id))["output_format"] == output_format
    assert (await api.job(user, job_id))["output_format"] == output_format


async def test_execute_without_a_format_keeps_png_keys_and_says_png(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 2)
    assert (await api.job(user, job_id))["output_format"] == "png"
    data_of(await api.execute(user, job_id, FLOOR_OAK), 202)
    [body] = await queue_bodies(context, job_id)
    assert body["output_format"] == "png"
    assert [item["output_key"] for item in body["items"]] == result_keys(user, job_id, "png", 2)
    assert (await api.job(user, job_id))["output_format"] == "png"


@pytest.mark.parametrize("value", ["gif", "PNG", "", 5, ["webp"]])
async def test_execute_with_an_unknown_format_is_refused_with_the_allowed_values(
    api: ApiClient, context: AppContext, value: object
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    response = await api.execute(user, job_id, {**FLOOR_OAK, "output_format": value})
    error = error_of(response, 400, "VALIDATION_FAILED")
    assert [field["field"] for field in error["details"]["fields"]] == ["output_format"]
    assert error["details"]["allowed"] == ALLOWED
    assert (await api.job(user, job_id))["status"] == "uploaded"
    assert await queue_bodies(context, job_id) == []
    assert (await job_row(context, job_id))["output_format"] == "png"


async def test_callback_takes_the_key_of_the_jobs_format_and_refuses_the_png_key(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    job_id = await executed_job(api, user, "jpeg")
    refused = await post_callback(api, job_id, done_body(user, job_id, 0, "png"))
    error = error_of(refused, 400, "VALIDATION_FAILED")
    assert error["details"]["expected_output_key"] == result_keys(user, job_id, "jpg", 1)[0]
    data_of(await post_callback(api, job_id, done_body(user, job_id, 0, "jpg")))
    assert (await api.job(user, job_id))["items"][0]["status"] == "done"


async def test_callback_of_a_png_job_refuses_a_webp_key(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = await executed_job(api, user, "png", count=1)
    refused = await post_callback(api, job_id, done_body(user, job_id, 0, "webp"))
    error_of(refused, 400, "VALIDATION_FAILED")
    data_of(await post_callback(api, job_id, done_body(user, job_id, 0, "png")))


async def test_download_urls_of_a_webp_job_lead_to_its_webp_results(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await executed_job(api, user, "webp", count=1)
    [key] = result_keys(user, job_id, "webp", 1)
    await context.storage.put_bytes(key, b"RIFF\x00\x00\x00\x00WEBP", "image/webp")
    data_of(await post_callback(api, job_id, done_body(user, job_id, 0, "webp")))
    [download] = (await api.job(user, job_id))["download_urls"]
    assert f"/{key}?" in download["output_url"]
    fetched = await api.http.get(download["output_url"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/webp"


async def test_deleting_a_webp_job_removes_its_webp_results(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await executed_job(api, user, "webp", count=1)
    [key] = result_keys(user, job_id, "webp", 1)
    await context.storage.put_bytes(key, b"RIFF\x00\x00\x00\x00WEBP", "image/webp")
    data_of(await post_callback(api, job_id, done_body(user, job_id, 0, "webp")))
    data_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers))
    assert await existing(context, [key]) == []


async def test_rerun_takes_its_own_format_for_its_keys_message_and_callbacks(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    body = {**FLOOR_OAK, "output_format": "webp"}
    rerun_id = data_of(await post_rerun(api, user, parent, body), 202)["job_id"]
    [message] = await queue_bodies(context, rerun_id)
    assert message["output_format"] == "webp"
    expected = result_keys(user, rerun_id, "webp", 2)
    assert [item["output_key"] for item in message["items"]] == expected
    assert (await api.job(user, rerun_id))["output_format"] == "webp"
    error_of(
        await post_callback(api, rerun_id, done_body(user, rerun_id, 0, "png")),
        400,
        "VALIDATION_FAILED",
    )
    data_of(await post_callback(api, rerun_id, done_body(user, rerun_id, 0, "webp")))


async def test_rerun_without_a_format_is_png_whatever_the_parents_format(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await executed_job(api, user, "jpeg", count=1)
    data_of(await post_callback(api, parent, done_body(user, parent, 0, "jpg")))
    rerun_id = data_of(await post_rerun(api, user, parent, FLOOR_OAK), 202)["job_id"]
    [message] = await queue_bodies(context, rerun_id)
    assert message["output_format"] == "png"
    assert [item["output_key"] for item in message["items"]] == result_keys(
        user, rerun_id, "png", 1
    )
    assert (await api.job(user, rerun_id))["output_format"] == "png"


async def test_rerun_with_an_unknown_format_is_refused_and_reserves_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    credits = (await api.me(user))["credits"]
    response = await post_rerun(api, user, parent, {**FLOOR_OAK, "output_format": "tiff"})
    error = error_of(response, 400, "VALIDATION_FAILED")
    assert [field["field"] for field in error["details"]["fields"]] == ["output_format"]
    assert error["details"]["allowed"] == ALLOWED
    assert (await api.me(user))["credits"] == credits
    listed = await api.http.get("/jobs", headers=user.headers)
    assert [job["job_id"] for job in listed.json()["data"]] == [parent]
