"""`DELETE /jobs/{id}`: a finished job and its objects are gone; shared inputs stay while used."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3api.context import AppContext
from s3api.settings import Settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import WALL_TONE, assert_money_invariants, data_of, error_of, ledger_of
from tests.support.object_stores import (
    STORAGE_KINDS,
    all_keys,
    existing,
    failing_deletes,
    finished_job,
    object_keys,
    queued_job,
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
    """Every test runs on local storage and on S3."""
    return settings_on_storage(request, tmp_path, database_url)


async def delete_job(api: ApiClient, user: SignedIn, job_id: str) -> dict[str, Any]:
    return data_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers))


async def test_deleting_a_finished_job_removes_it_and_its_objects_but_not_the_ledger(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 2, failed=(1,))
    kept = await finished_job(api, context, user, 1)
    ledger_before = await ledger_of(context, user.user_id)
    assert await existing(context, all_keys(user, job_id, 2)) == all_keys(user, job_id, 2)
    assert await delete_job(api, user, job_id) == {"deleted": True}
    assert await existing(context, all_keys(user, job_id, 2)) == []
    assert await existing(context, all_keys(user, kept, 1)) == all_keys(user, kept, 1)
    response = await api.http.get(f"/jobs/{job_id}", headers=user.headers)
    error_of(response, 404, "JOB_NOT_FOUND")
    listed = await api.http.get("/jobs", headers=user.headers)
    assert [job["job_id"] for job in listed.json()["data"]] == [kept]
    assert await ledger_of(context, user.user_id) == ledger_before
    assert (await api.me(user))["credits"] == 10 - 1 - 1
    error_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers), 404, "JOB_NOT_FOUND")


async def test_an_unfinished_job_cannot_be_deleted(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await queued_job(api, context, user, 1)
    response = await api.http.delete(f"/jobs/{job_id}", headers=user.headers)
    assert error_of(response, 409, "JOB_INVALID_TRANSITION")["details"] == {"status": "queued"}
    assert (await api.job(user, job_id))["status"] == "queued"
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    assert await delete_job(api, user, job_id) == {"deleted": True}
    await assert_money_invariants(context, user.user_id)


async def test_another_users_job_cannot_be_deleted(api: ApiClient, context: AppContext) -> None:
    owner, other = await api.sign_in(), await api.sign_in()
    job_id = await finished_job(api, context, owner, 1)
    response = await api.http.delete(f"/jobs/{job_id}", headers=other.headers)
    error_of(response, 404, "JOB_NOT_FOUND")
    assert await existing(context, all_keys(owner, job_id, 1)) == all_keys(owner, job_id, 1)


async def test_inputs_shared_with_a_rerun_stay_until_no_kept_job_reads_them(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    rerun = await api.http.post(f"/jobs/{parent}/rerun", json=WALL_TONE, headers=user.headers)
    child = data_of(rerun, 202)["job_id"]
    for idx in range(2):
        data_of(await api.callback(child, user.user_id, idx, status="failed", error="x"))
    parent_keys = object_keys(user, parent, 2)
    await delete_job(api, user, parent)
    assert await existing(context, parent_keys["inputs"]) == parent_keys["inputs"]
    assert await existing(context, parent_keys["outputs"] + parent_keys["previews"]) == []
    await delete_job(api, user, child)
    assert await existing(context, parent_keys["inputs"]) == []


async def test_deleting_a_parent_and_its_rerun_at_once_leaves_no_input_behind(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 2)
    rerun = await api.http.post(f"/jobs/{parent}/rerun", json=WALL_TONE, headers=user.headers)
    child = data_of(rerun, 202)["job_id"]
    for idx in range(2):
        data_of(await api.callback(child, user.user_id, idx, status="failed", error="x"))
    answers = await asyncio.gather(
        api.http.delete(f"/jobs/{parent}", headers=user.headers),
        api.http.delete(f"/jobs/{child}", headers=user.headers),
    )
    assert [answer.status_code for answer in answers] == [200, 200]
    assert await existing(context, all_keys(user, parent, 2)) == []


async def test_an_unexpected_error_while_deleting_objects_keeps_the_job_for_a_retry(
    api: ApiClient, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a store that fails as a store answers 503 (the test below); this is a bug's 500
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 1)

    async def broken(keys: list[str]) -> None:
        raise RuntimeError("unexpected failure while deleting")

    monkeypatch.setattr(context.storage, "delete_many", broken)
    failed = await api.http.delete(f"/jobs/{job_id}", headers=user.headers)
    error_of(failed, 500, "INTERNAL_ERROR")
    assert (await api.job(user, job_id))["status"] == "done"
    monkeypatch.undo()
    assert await delete_job(api, user, job_id) == {"deleted": True}
    assert await existing(context, all_keys(user, job_id, 1)) == []


async def test_a_store_failing_to_delete_answers_503_and_keeps_the_job_for_a_retry(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await finished_job(api, context, user, 2)
    with failing_deletes(context, user, job_id):
        response = await api.http.delete(f"/jobs/{job_id}", headers=user.headers)
    error_of(response, 503, "UNAVAILABLE")
    kept = await api.http.get(f"/jobs/{job_id}", headers=user.headers)
    assert kept.status_code == 200
    assert await delete_job(api, user, job_id) == {"deleted": True}
    assert await existing(context, all_keys(user, job_id, 2)) == []
    error_of(await api.http.get(f"/jobs/{job_id}", headers=user.headers), 404, "JOB_NOT_FOUND")
