"""Stored label maps across jobs: re-runs read them, deletion and retention remove them,
and the limits that bound analyses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.models import JobEvent, JobSelection
from s3api.delivery.schemas import LeaseRetry
from s3api.settings import Settings
from tests.support.analysis import (
    FLOOR_KEEP_WALL,
    HEIGHT,
    INSTANCES,
    SECRET_HEADERS,
    WIDTH,
    analysis_bodies,
    label_map_png,
    post_analyze,
    run_analysis,
)
from tests.support.databases import TEST_CALLBACK_SECRET, application_context, make_settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    pro_user,
    queue_bodies,
)
from tests.support.object_stores import (
    STORAGE_KINDS,
    existing,
    put_inputs,
    put_results,
    settings_on_storage,
)
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[ApiClient, AppContext]]]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the module's S3 runs."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(params=STORAGE_KINDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Every test runs on local storage and on S3."""
    return settings_on_storage(request, tmp_path, database_url)


@pytest.fixture
def app_with(tmp_path: Path, database_url: str) -> AppFactory:
    """An app built with these setting overrides, and its context."""

    @asynccontextmanager
    async def open_app(**overrides: Any) -> AsyncIterator[tuple[ApiClient, AppContext]]:
        application = create_app(
            make_settings(tmp_path / "other", database_url, **overrides), migrate=False
        )
        transport = httpx.ASGITransport(app=application)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield ApiClient(http, TEST_CALLBACK_SECRET), application_context(application)
        finally:
            await application_context(application).close()

    return open_app


async def analysed_job(api: ApiClient, context: AppContext, user: SignedIn, items: int) -> str:
    """An uploaded job (inputs written straight into storage) analysed for Floor and Wall."""
    created = await api.create_job(user, items)
    await put_inputs(context, created)
    job_id: str = created["job_id"]
    data_of(await api.confirm(user, job_id))
    data_of(await post_analyze(api, user, job_id), 202)
    await run_analysis(api, context)
    return job_id


async def finish(
    api: ApiClient, context: AppContext, user: SignedIn, job_id: str, items: int
) -> None:
    """Results in storage and a done callback per item."""
    await put_results(context, user, job_id, items)
    for idx in range(items):
        data_of(await api.callback(job_id, user.user_id, idx))


def mask_keys(user: SignedIn, job_id: str, items: int) -> list[str]:
    prefix = f"masks/{user.user_id}/{job_id}"
    return [
        key
        for idx in range(items)
        for key in (
            f"{prefix}/{idx}_Floor.png",
            f"{prefix}/{idx}_Wall.png",
            f"{prefix}/{idx}_instances.json",
            f"{prefix}/{idx}.overlay.png",
        )
    ]


async def test_a_rerun_reads_the_parents_stored_maps_and_keeps_its_selection(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    parent = await analysed_job(api, context, user, 2)
    data_of(await api.execute(user, parent, FLOOR_KEEP_WALL), 202)
    await finish(api, context, user, parent, 2)
    body = {
        **FLOOR_KEEP_WALL,
        "protect": ["Wall", "Door"],
        "instances": {"1": {"Floor": {"only": [2]}}},
    }
    rerun = data_of(
        await api.http.post(f"/jobs/{parent}/rerun", json=body, headers=user.headers), 202
    )["job_id"]
    [message] = await queue_bodies(context, rerun)
    first, second = message["items"]
    assert second["instances"] == {"Floor": {"only": [2]}}
    floor = second["segmentation"]["masks"]["Floor"]
    assert (floor["stored"], floor["key"]) == (True, f"masks/{user.user_id}/{parent}/1_Floor.png")
    # a concept nobody stored yet is to be stored under the re-run's own keys
    assert first["segmentation"]["masks"]["Door"] == {
        "key": f"masks/{user.user_id}/{rerun}/0_Door.png",
        "stored": False,
    }
    async with context.database.read() as connection:
        stored = (
            await connection.execute(
                select(JobSelection.instances).where(JobSelection.job_id == rerun)
            )
        ).scalar_one()
    assert stored == {"1": {"Floor": {"only": [2]}}}


async def test_deletion_keeps_the_maps_a_rerun_reads_and_removes_them_with_the_last_job(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    parent = await analysed_job(api, context, user, 2)
    data_of(await api.execute(user, parent, FLOOR_KEEP_WALL), 202)
    await finish(api, context, user, parent, 2)
    rerun = data_of(
        await api.http.post(f"/jobs/{parent}/rerun", json=FLOOR_KEEP_WALL, headers=user.headers),
        202,
    )["job_id"]
    await finish(api, context, user, rerun, 2)
    keys = mask_keys(user, parent, 2)
    assert await existing(context, keys) == keys
    data_of(await api.http.delete(f"/jobs/{parent}", headers=user.headers))
    # the re-run reads the label maps and instances files; the overlays were the parent's own
    assert await existing(context, keys) == [k for k in keys if not k.endswith(".overlay.png")]
    data_of(await api.http.delete(f"/jobs/{rerun}", headers=user.headers))
    assert await existing(context, keys) == []
    await assert_money_invariants(context, user.user_id)


async def test_deleting_an_analysed_job_removes_its_masks(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    data_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers))
    assert await existing(context, mask_keys(user, job_id, 1)) == []


async def test_deleting_the_account_removes_every_mask(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    data_of(await api.http.delete("/me", headers=user.headers))
    assert await existing(context, mask_keys(user, job_id, 1)) == []


async def test_analysis_events_reach_the_event_log(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await analysed_job(api, context, user, 1)
    async with context.database.read() as connection:
        rows = await connection.execute(
            select(JobEvent.kind, JobEvent.data)
            .where(JobEvent.job_id == job_id)
            .order_by(JobEvent.seq)
        )
        events = [(kind, data) for kind, data in rows]
    kinds = [kind for kind, _ in events]
    assert kinds[-3:] == ["analysis", "analysis_item", "analysis"]
    assert events[-2][1]["status"] == "done"
    assert events[-1][1]["status"] == "done"
    assert events[-1][1]["concepts"] == ["Floor", "Wall"]


async def test_a_dead_lettered_analysis_fails_its_run_not_the_job(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await put_inputs(context, created)
    job_id = created["job_id"]
    data_of(await api.confirm(user, job_id))
    data_of(await post_analyze(api, user, job_id), 202)
    for _ in range(1 + context.settings.queue_max_retries):
        [message] = await context.delivery.lease_messages(1, 30)
        retry = LeaseRetry(lease_id=message.lease_id, delay_seconds=0, error="worker refused")
        await context.delivery.retry([retry])
    job = await api.job(user, job_id)
    assert (job["status"], job["analysis"]["status"]) == ("uploaded", "failed")
    assert "worker refused" in job["analysis"]["items"][0]["error"]
    assert await analysis_bodies(context) == []


async def test_analyses_count_against_the_user_write_rate(app_with: AppFactory) -> None:
    async with app_with(user_write_rate="2/hour") as (api, context):
        user = await api.sign_in()
        created = await api.create_job(user, 1)
        await put_inputs(context, created)
        data_of(await api.confirm(user, created["job_id"]))
        data_of(await post_analyze(api, user, created["job_id"]), 202)
        error_of(await post_analyze(api, user, created["job_id"]), 429, "RATE_LIMITED")


async def test_distinct_concepts_per_job_are_capped(app_with: AppFactory) -> None:
    async with app_with(max_analysis_concepts=2) as (api, context):
        user = await api.sign_in()
        job_id = await analysed_job(api, context, user, 1)
        more = {**FLOOR_KEEP_WALL, "protect": ["Door"]}
        error = error_of(await post_analyze(api, user, job_id, more), 403, "ANALYSIS_CONCEPT_LIMIT")
        assert error["details"] == {"max_concepts": 2, "analysed": 2}
        assert await analysis_bodies(context) == []


async def test_maps_an_edit_reports_are_checked_recorded_and_reused_by_a_rerun(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    created = await api.create_job(user, 1)
    await put_inputs(context, created)
    job_id = created["job_id"]
    data_of(await api.confirm(user, job_id))
    data_of(await api.execute(user, job_id, FLOOR_KEEP_WALL), 202)
    [message] = await queue_bodies(context, job_id)
    segmentation = message["items"][0]["segmentation"]
    floor_key = segmentation["masks"]["Floor"]["key"]
    report = {
        "idx": 0,
        "status": "done",
        "idempotency_key": f"{job_id}:0:1",
        "output_key": f"outputs/{user.user_id}/{job_id}/0_result.png",
        "preview_key": f"previews/{user.user_id}/{job_id}/0_thumb.jpg",
        "segmentation": {
            "width": WIDTH,
            "height": HEIGHT,
            "masks": {"Floor": floor_key},
            "instances_key": segmentation["instances_key"],
            "instances": {"Floor": INSTANCES},
        },
    }
    await put_results(context, user, job_id, 1)
    refused = await api.http.post(f"/jobs/{job_id}/callback", json=report, headers=SECRET_HEADERS)
    assert error_of(refused, 409, "UPLOAD_INCOMPLETE")["details"]["missing"] == [
        floor_key,
        segmentation["instances_key"],
    ]
    await context.storage.put_bytes(floor_key, label_map_png(), "image/png")
    await context.storage.put_bytes(segmentation["instances_key"], b"{}", "application/json")
    data_of(await api.http.post(f"/jobs/{job_id}/callback", json=report, headers=SECRET_HEADERS))
    rerun = data_of(
        await api.http.post(f"/jobs/{job_id}/rerun", json=FLOOR_KEEP_WALL, headers=user.headers),
        202,
    )["job_id"]
    [again] = await queue_bodies(context, rerun)
    masks = again["items"][0]["segmentation"]["masks"]
    assert (masks["Floor"]["stored"], masks["Floor"]["key"]) == (True, floor_key)
    assert masks["Wall"]["stored"] is False
