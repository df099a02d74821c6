"""A `done` result is accepted only when its result and preview are stored, on either store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s3api.context import AppContext
from s3api.settings import Settings
from tests.support.factories import ApiClient
from tests.support.jobs import credits_of, data_of, error_of, item_statuses
from tests.support.object_stores import (
    STORAGE_KINDS,
    object_keys,
    queued_job,
    settings_on_storage,
)
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server

RESULT_LIMIT = 1000


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the module's S3 runs."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(params=STORAGE_KINDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Every test runs on local storage and on S3, with a small result limit."""
    return settings_on_storage(request, tmp_path, database_url, max_result_bytes=RESULT_LIMIT)


async def test_a_done_result_whose_objects_were_never_stored_is_refused_and_not_charged(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 1)
    credits = await credits_of(context, user.user_id)
    refused = await api.callback(job_id, user.user_id, 0, store_results=False)
    error = error_of(refused, 400, "VALIDATION_FAILED")
    keys = object_keys(user, job_id, 1)
    assert error["details"]["unstored_keys"] == [keys["outputs"][0], keys["previews"][0]]
    job = await api.job(user, job_id)
    assert (job["status"], job["done_items"], job["download_urls"]) == ("queued", 0, [])
    assert await item_statuses(context, job_id) == ["pending"]
    assert await credits_of(context, user.user_id) == credits
    # the worker uploads and retries with the same key: now it is accepted
    assert data_of(await api.callback(job_id, user.user_id, 0))["processed"] is True
    assert (await api.job(user, job_id))["status"] == "done"


async def test_a_missing_preview_alone_is_named(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 1)
    keys = object_keys(user, job_id, 1)
    await context.storage.put_bytes(keys["outputs"][0], b"png-bytes", "image/png")
    refused = await api.callback(job_id, user.user_id, 0, store_results=False)
    assert error_of(refused, 400, "VALIDATION_FAILED")["details"]["unstored_keys"] == [
        keys["previews"][0]
    ]


async def test_an_empty_or_oversized_result_is_refused(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 1)
    keys = object_keys(user, job_id, 1)
    await context.storage.put_bytes(keys["outputs"][0], b"x" * (RESULT_LIMIT + 1), "image/png")
    await context.storage.put_bytes(keys["previews"][0], b"", "image/jpeg")
    refused = await api.callback(job_id, user.user_id, 0, store_results=False)
    error = error_of(refused, 400, "VALIDATION_FAILED")
    assert error["details"]["unstored_keys"] == [keys["outputs"][0], keys["previews"][0]]


async def test_a_replay_of_an_accepted_result_answers_as_before_when_its_objects_are_gone(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 2)
    assert data_of(await api.callback(job_id, user.user_id, 0))["processed"] is True
    keys = object_keys(user, job_id, 2)
    await context.storage.delete_many([keys["outputs"][0], keys["previews"][0]])
    replay = data_of(await api.callback(job_id, user.user_id, 0, store_results=False))
    assert replay == {"processed": False, "duplicate": True, "job_status": "running"}
    # and once the job has ended, as a late duplicate
    assert data_of(await api.callback(job_id, user.user_id, 1))["job_status"] == "done"
    late = data_of(await api.callback(job_id, user.user_id, 0, store_results=False))
    assert late == {"processed": False, "duplicate": True, "job_status": "done"}


async def test_a_failed_result_needs_no_objects(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 1)
    failed = await api.callback(job_id, user.user_id, 0, status="failed", error="boom")
    assert data_of(failed)["job_status"] == "failed"
