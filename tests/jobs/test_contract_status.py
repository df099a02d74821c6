"""`GET /jobs/{id}` (API.md §3.13): the job's live state and its download URLs."""

from __future__ import annotations

import time
import types
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

import s3api.storage.local
from s3api.context import AppContext
from tests.support.factories import ApiClient
from tests.support.jobs import data_of, error_of, job_row

JOB_FIELDS = {
    "job_id",
    "status",
    "preset",
    "total_items",
    "done_items",
    "failed_items",
    "progress",
    "items",
    "download_urls",
    "created_at",
    "updated_at",
}


def parse_timestamp(value: str) -> datetime:
    """An API timestamp, which must be UTC with a `Z` suffix."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expires_of(url: str) -> int:
    """The `expires` query parameter of a local pre-signed URL."""
    return int(parse_qs(urlsplit(url).query)["expires"][0])


async def test_a_new_job_has_every_field_and_only_pending_items(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2, preset="seller")
    response = await api.http.get(f"/jobs/{created['job_id']}", headers=user.headers)
    job = data_of(response)["job"]
    assert set(job) >= JOB_FIELDS
    assert job["job_id"] == created["job_id"]
    assert job["status"] == "created"
    assert job["preset"] == "seller"
    assert (job["total_items"], job["done_items"], job["failed_items"]) == (2, 0, 0)
    assert job["progress"] == {"done": 0, "failed": 0, "total": 2}
    assert [(item["idx"], item["status"]) for item in job["items"]] == [
        (0, "pending"),
        (1, "pending"),
    ]
    assert all(item.get("error") is None for item in job["items"])
    assert job["download_urls"] == []
    assert parse_timestamp(job["created_at"]) <= parse_timestamp(job["updated_at"])
    assert abs((datetime.now(UTC) - parse_timestamp(job["created_at"])).total_seconds()) < 60


async def test_items_report_done_failed_with_its_error_and_pending(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, 3)
    job_id = created["job_id"]
    data_of(await api.callback(job_id, user.user_id, 0))
    data_of(await api.callback(job_id, user.user_id, 1, "failed", error="no wall found"))
    job = await api.job(user, job_id)
    assert job["status"] == "running"
    assert [(item["idx"], item["status"]) for item in job["items"]] == [
        (0, "done"),
        (1, "failed"),
        (2, "pending"),
    ]
    assert job["items"][1]["error"] == "no wall found"
    assert job["items"][0].get("error") is None
    assert (job["done_items"], job["failed_items"], job["total_items"]) == (1, 1, 3)
    assert job["progress"] == {"done": 1, "failed": 1, "total": 3}


async def test_download_urls_cover_only_the_done_items(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, 3)
    job_id = created["job_id"]
    data_of(await api.callback(job_id, user.user_id, 2))
    data_of(await api.callback(job_id, user.user_id, 0, "failed"))
    job = await api.job(user, job_id)
    assert [entry["idx"] for entry in job["download_urls"]] == [2]
    assert set(job["download_urls"][0]) >= {"idx", "output_url", "preview_url"}


async def test_download_urls_serve_the_stored_result_and_preview(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, 1)
    job_id = created["job_id"]
    output = b"\x89PNG\r\n\x1a\n" + b"result bytes"
    preview = b"\xff\xd8\xff" + b"thumbnail bytes"
    await context.storage.put_bytes(
        f"outputs/{user.user_id}/{job_id}/0_result.png", output, "image/png"
    )
    await context.storage.put_bytes(
        f"previews/{user.user_id}/{job_id}/0_thumb.jpg", preview, "image/jpeg"
    )
    data_of(await api.callback(job_id, user.user_id, 0, store_results=False))
    [entry] = (await api.job(user, job_id))["download_urls"]
    fetched_output = await api.http.get(entry["output_url"])
    fetched_preview = await api.http.get(entry["preview_url"])
    assert fetched_output.status_code == 200
    assert fetched_output.content == output
    assert fetched_preview.status_code == 200
    assert fetched_preview.content == preview


async def test_download_urls_are_signed_afresh_on_each_call(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, 1)
    data_of(await api.callback(created["job_id"], user.user_id, 0))
    [first] = (await api.job(user, created["job_id"]))["download_urls"]
    assert expires_of(first["output_url"]) >= int(time.time()) + 3600 - 60
    later = time.time() + 600
    monkeypatch.setattr(s3api.storage.local, "time", types.SimpleNamespace(time=lambda: later))
    [second] = (await api.job(user, created["job_id"]))["download_urls"]
    assert expires_of(second["output_url"]) >= expires_of(first["output_url"]) + 590
    assert expires_of(second["preview_url"]) >= expires_of(first["preview_url"]) + 590


async def test_updated_at_moves_when_a_result_is_recorded(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.queued_job(user, 2)
    before = await job_row(context, created["job_id"])
    data_of(await api.callback(created["job_id"], user.user_id, 0))
    after = await job_row(context, created["job_id"])
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]
    job = await api.job(user, created["job_id"])
    assert parse_timestamp(job["updated_at"]) >= parse_timestamp(job["created_at"])


async def test_a_job_id_that_does_not_exist_is_job_not_found(api: ApiClient) -> None:
    user = await api.sign_in()
    for job_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = await api.http.get(f"/jobs/{job_id}", headers=user.headers)
        error_of(response, 404, "JOB_NOT_FOUND")
