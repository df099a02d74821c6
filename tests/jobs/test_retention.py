"""Retention: the sweeper removes the objects of jobs that ended `RESULT_RETENTION_DAYS` ago."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from s3api.context import AppContext
from s3api.settings import Settings
from s3api.timeutil import utcnow
from tests.support.factories import ApiClient
from tests.support.jobs import WALL_TONE, data_of, error_of
from tests.support.object_stores import (
    STORAGE_KINDS,
    all_keys,
    existing,
    finished_job,
    object_keys,
    settings_on_storage,
)
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the module's S3 runs."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(params=STORAGE_KINDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Every test runs on local storage and on S3, with a 7-day retention."""
    return settings_on_storage(request, tmp_path, database_url, result_retention_days=7)


async def test_the_sweeper_expires_old_jobs_and_removes_their_objects(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 2)
    assert len((await api.job(user, job_id))["download_urls"]) == 2
    context.retention.clock = lambda: utcnow() + timedelta(days=6)
    assert (await context.background.run_pass())[:3] == (0, 0, 0)
    assert await existing(context, all_keys(user, job_id, 2)) == all_keys(user, job_id, 2)
    context.retention.clock = lambda: utcnow() + timedelta(days=7, minutes=1)
    assert (await context.background.run_pass())[:3] == (0, 0, 1)
    assert await existing(context, all_keys(user, job_id, 2)) == []
    job = await api.job(user, job_id)
    assert (job["expired"], job["download_urls"], job["status"]) == (True, [], "done")
    rerun = await api.http.post(f"/jobs/{job_id}/rerun", json=WALL_TONE, headers=user.headers)
    error_of(rerun, 410, "INPUTS_EXPIRED")
    assert (await context.background.run_pass())[:3] == (0, 0, 0)
    assert (await api.me(user))["credits"] == 8


async def test_unfinished_and_recent_jobs_are_kept(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    later = utcnow() + timedelta(days=30)
    assert await context.retention.expire_old_jobs(now=later) == 0
    assert (await api.job(user, created["job_id"]))["expired"] is False


async def test_inputs_a_kept_rerun_reads_outlive_the_expired_parent(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    response = await api.http.post(f"/jobs/{parent}/rerun", json=WALL_TONE, headers=user.headers)
    child = data_of(response, 202)["job_id"]
    assert await context.retention.expire_old_jobs(now=utcnow() + timedelta(days=8)) == 1
    keys = object_keys(user, parent, 1)
    assert await existing(context, keys["inputs"]) == keys["inputs"]
    assert await existing(context, keys["outputs"] + keys["previews"]) == []
    data_of(await api.callback(child, user.user_id, 0, status="failed", error="x"))
    data_of(await api.http.post(f"/jobs/{child}/rerun", json=WALL_TONE, headers=user.headers), 202)


async def test_zero_days_keeps_everything_forever(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 1)
    context.retention.retention_days = 0
    assert await context.retention.expire_old_jobs(now=utcnow() + timedelta(days=3650)) == 0
    assert await existing(context, all_keys(user, job_id, 1)) == all_keys(user, job_id, 1)


async def test_a_failing_store_leaves_the_job_for_the_next_pass(
    api: ApiClient, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 1)

    async def store_down(keys: list[str]) -> None:
        raise RuntimeError("object store unreachable")

    monkeypatch.setattr(context.storage, "delete_many", store_down)
    later = utcnow() + timedelta(days=8)
    with pytest.raises(RuntimeError):
        await context.retention.expire_old_jobs(now=later)
    assert (await api.job(user, job_id))["expired"] is False
    monkeypatch.undo()
    assert await context.retention.expire_old_jobs(now=later) == 1
    assert await existing(context, all_keys(user, job_id, 1)) == []
