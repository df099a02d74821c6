"""`GET /jobs/{id}/events`: the live stream, read with a real SSE client over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from httpx_sse import ServerSentEvent, aconnect_sse

from s3api.app import create_app
from s3api.settings import Settings
from tests.support.databases import TEST_CALLBACK_SECRET, application_context, make_settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import error_of
from tests.support.served import served

READ_TIMEOUT_SECONDS = 10.0
# The test's own HTTP client logs its URLs; `s3api serve` turns uvicorn's access log off.
NOT_SERVER_LOGGERS = ("httpx", "httpcore", "uvicorn.access")


async def _events(
    client: httpx.AsyncClient, url: str, count: int, **headers: str
) -> list[ServerSentEvent]:
    """The first `count` events of a stream (fails on a timeout rather than hanging)."""
    received: list[ServerSentEvent] = []
    async with aconnect_sse(client, "GET", url, headers=headers) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for event in source.aiter_sse():
            received.append(event)
            if len(received) == count:
                break
    return received


def _kinds(events: list[ServerSentEvent]) -> list[str]:
    return [event.event for event in events]


def _data(event: ServerSentEvent) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event.data)
    return data


@pytest.fixture
async def base_url(app: Any) -> AsyncIterator[str]:
    """The test app served over a real socket."""
    async with served(app) as url:
        yield url


@pytest.fixture
async def sse(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the served app, with a read timeout so a silent stream fails the test."""
    async with httpx.AsyncClient(base_url=base_url, timeout=READ_TIMEOUT_SECONDS) as client:
        yield client


async def test_five_item_job_streams_snapshot_items_status_and_end_in_order(
    api: ApiClient, sse: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, item_count=5))["job_id"]
    received: list[ServerSentEvent] = []
    async with aconnect_sse(sse, "GET", f"/jobs/{job_id}/events", headers=user.headers) as source:
        stream = source.aiter_sse()
        received.append(await anext(stream))
        assert received[0].event == "snapshot"
        assert _data(received[0])["status"] == "queued"
        for idx in range(5):
            status = "failed" if idx == 3 else "done"
            response = await api.callback(job_id, user.user_id, idx, status, error="bad pixel")
            assert response.status_code == 200, response.text
        async for event in stream:
            received.append(event)
    assert _kinds(received) == [
        "snapshot",
        "item",
        "status",
        "item",
        "item",
        "item",
        "item",
        "status",
        "end",
    ]
    ids = [int(event.id) for event in received]
    assert ids == sorted(set(ids)), ids
    items = [_data(event) for event in received if event.event == "item"]
    assert [item["idx"] for item in items] == [0, 1, 2, 3, 4]
    assert items[3] == {
        "idx": 3,
        "status": "failed",
        "error": "bad pixel",
        "output_url": None,
        "preview_url": None,
    }
    assert items[0]["output_url"].startswith("http://testserver/objects/outputs/")
    assert items[0]["preview_url"].startswith("http://testserver/objects/previews/")
    statuses = [_data(event) for event in received if event.event == "status"]
    assert statuses == [
        {"status": "running", "progress": {"done": 1, "failed": 0, "total": 5}},
        {"status": "done", "progress": {"done": 4, "failed": 1, "total": 5}},
    ]
    assert _data(received[-1]) == {"status": "done"}


async def _finished_job(api: ApiClient, user: SignedIn, item_count: int) -> str:
    job_id: str = (await api.queued_job(user, item_count=item_count))["job_id"]
    for idx in range(item_count):
        assert (await api.callback(job_id, user.user_id, idx)).status_code == 200
    return job_id


async def test_stream_of_a_finished_job_sends_snapshot_and_end_then_closes(
    api: ApiClient, sse: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    job_id = await _finished_job(api, user, 2)
    async with aconnect_sse(sse, "GET", f"/jobs/{job_id}/events", headers=user.headers) as source:
        received = [event async for event in source.aiter_sse()]
    assert _kinds(received) == ["snapshot", "end"]
    assert _data(received[0])["status"] == "done"
    assert len(_data(received[0])["download_urls"]) == 2
    assert int(received[1].id) > int(received[0].id)


async def test_last_event_id_resumes_after_that_event_without_loss_or_repeat(
    api: ApiClient, sse: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, item_count=3))["job_id"]
    assert (await api.callback(job_id, user.user_id, 0)).status_code == 200
    first = await _events(sse, f"/jobs/{job_id}/events", 1, **user.headers)
    assert first[0].event == "snapshot"
    assert _data(first[0])["done_items"] == 1
    for idx in (1, 2):
        assert (await api.callback(job_id, user.user_id, idx)).status_code == 200
    async with aconnect_sse(
        sse,
        "GET",
        f"/jobs/{job_id}/events",
        headers={**user.headers, "Last-Event-ID": first[0].id},
    ) as source:
        resumed = [event async for event in source.aiter_sse()]
    assert _kinds(resumed) == ["item", "item", "status", "end"]
    assert [_data(event)["idx"] for event in resumed[:2]] == [1, 2]
    assert [int(event.id) for event in resumed] == list(
        range(int(first[0].id) + 1, int(first[0].id) + 5)
    )
    async with aconnect_sse(
        sse,
        "GET",
        f"/jobs/{job_id}/events",
        headers={**user.headers, "Last-Event-ID": resumed[1].id},
    ) as source:
        again = [event async for event in source.aiter_sse()]
    assert [(event.id, event.event) for event in again] == [
        (event.id, event.event) for event in resumed[2:]
    ]
    after_end = await sse.get(
        f"/jobs/{job_id}/events", headers={**user.headers, "Last-Event-ID": resumed[-1].id}
    )
    assert (after_end.status_code, after_end.content) == (204, b"")


async def test_access_token_query_authenticates_and_is_never_logged(
    api: ApiClient, sse: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await api.sign_in()
    job_id = await _finished_job(api, user, 1)
    caplog.set_level(logging.DEBUG)
    async with aconnect_sse(
        sse, "GET", f"/jobs/{job_id}/events", params={"access_token": user.token}
    ) as source:
        received = [event async for event in source.aiter_sse()]
    assert _kinds(received) == ["snapshot", "end"]
    refused = await sse.get(f"/jobs/{job_id}/events", params={"access_token": "not-a-token"})
    error_of(refused, 401, "AUTH_INVALID_TOKEN")
    server_lines = [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(NOT_SERVER_LOGGERS)
    ]
    assert any(f"path=/jobs/{job_id}/events " in line for line in server_lines)
    assert not [line for line in server_lines if user.token in line or "not-a-token" in line]


async def test_unknown_and_others_jobs_are_not_found(
    api: ApiClient, sse: httpx.AsyncClient
) -> None:
    owner = await api.sign_in()
    other = await api.sign_in()
    job_id = (await api.create_job(owner, 1))["job_id"]
    error_of(await sse.get(f"/jobs/{job_id}/events", headers=other.headers), 404, "JOB_NOT_FOUND")
    unknown = "00000000-0000-4000-8000-000000000000"
    error_of(await sse.get(f"/jobs/{unknown}/events", headers=owner.headers), 404, "JOB_NOT_FOUND")
    error_of(await sse.get(f"/jobs/{job_id}/events"), 401, "AUTH_REQUIRED")
    bad_resume = await sse.get(
        f"/jobs/{job_id}/events", headers={**owner.headers, "Last-Event-ID": "x1"}
    )
    error_of(bad_resume, 400, "VALIDATION_FAILED")


async def _limited_app_url(settings: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(tmp_path / "limited", settings.resolved_database_url, **overrides)


async def test_streams_past_the_per_user_limit_get_429_until_one_closes(
    settings: Settings, tmp_path: Path
) -> None:
    limited = await _limited_app_url(settings, tmp_path, max_streams_per_user=2)
    app = create_app(limited, migrate=False)
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            api = ApiClient(client, TEST_CALLBACK_SECRET, application_context(app).storage)
            user, neighbour = await api.sign_in(), await api.sign_in()
            job_id = (await api.create_job(user, 1))["job_id"]
            other_job = (await api.create_job(neighbour, 1))["job_id"]
            path = f"/jobs/{job_id}/events"
            async with (
                aconnect_sse(client, "GET", path, headers=user.headers) as first,
                aconnect_sse(client, "GET", path, headers=user.headers) as second,
            ):
                # keep each iterator: dropping one closes its stream
                first_events, second_events = first.aiter_sse(), second.aiter_sse()
                assert (await anext(first_events)).event == "snapshot"
                assert (await anext(second_events)).event == "snapshot"
                refused = await client.get(path, headers=user.headers)
                error = error_of(refused, 429, "TOO_MANY_STREAMS")
                assert error["details"] == {"max_streams": 2}
                other = await _events(client, f"/jobs/{other_job}/events", 1, **neighbour.headers)
                assert other[0].event == "snapshot"
            # the server sees both disconnects on its own time; wait for that, bounded
            slots = app.state.context.job_streams.slots
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                while slots.open[user.user_id]:
                    slots.released.clear()
                    if slots.open[user.user_id]:
                        await slots.released.wait()
            again = await _events(client, path, 1, **user.headers)
            assert again[0].event == "snapshot"
    finally:
        await app.state.context.close()


async def test_idle_stream_sends_ping_comments(settings: Settings, tmp_path: Path) -> None:
    pinging = await _limited_app_url(settings, tmp_path, stream_ping_seconds=0.05)
    app = create_app(pinging, migrate=False)
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            api = ApiClient(client, TEST_CALLBACK_SECRET, application_context(app).storage)
            user = await api.sign_in()
            job_id = (await api.create_job(user, 1))["job_id"]
            lines = []
            async with client.stream("GET", f"/jobs/{job_id}/events", headers=user.headers) as r:
                async for line in r.aiter_lines():
                    lines.append(line)
                    if line.startswith(":") and "event: snapshot" in lines:
                        break
            assert lines[-1] == ": ping"
    finally:
        await app.state.context.close()


async def test_a_stream_reads_its_job_only_when_that_job_changes(
    settings: Settings, tmp_path: Path
) -> None:
    quiet = await _limited_app_url(settings, tmp_path, stream_ping_seconds=600)
    app = create_app(quiet, migrate=False)
    reads: list[str] = []

    def count_event_reads(
        _connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        if "job_events.seq >" in statement:
            reads.append(str(parameters))

    engine = app.state.context.database.engine.sync_engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", count_event_reads)
    try:
        async with (
            served(app) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            # uploads go to the public base URL, http://testserver: through the ASGI stack
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as direct,
        ):
            api = ApiClient(direct, TEST_CALLBACK_SECRET, application_context(app).storage)
            watcher, busy = await api.sign_in(), await api.sign_in()
            watched = (await api.queued_job(watcher, item_count=1))["job_id"]
            other = (await api.queued_job(busy, item_count=3))["job_id"]
            async with aconnect_sse(
                client, "GET", f"/jobs/{watched}/events", headers=watcher.headers
            ) as source:
                events = source.aiter_sse()
                assert (await anext(events)).event == "snapshot"
                for idx in range(3):
                    assert (await api.callback(other, busy.user_id, idx)).status_code == 200
                assert (await api.callback(watched, watcher.user_id, 0)).status_code == 200
                assert (await anext(events)).event == "item"
        watched_reads = [parameters for parameters in reads if watched in parameters]
        # the snapshot's tail, the first look after it, and one read after the one change
        assert len(watched_reads) == 3, watched_reads
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count_event_reads)
        await app.state.context.close()


async def test_item_events_of_a_webp_job_link_its_webp_results(
    api: ApiClient, sse: httpx.AsyncClient
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    job_id = created["job_id"]
    await api.upload_all(created)
    assert (await api.confirm(user, job_id)).status_code == 200
    body = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}, "output_format": "webp"}
    assert (await api.execute(user, job_id, body)).status_code == 202
    done = {
        "idx": 0,
        "status": "done",
        "idempotency_key": f"{job_id}:0:1",
        "output_key": f"outputs/{user.user_id}/{job_id}/0_result.webp",
        "preview_key": f"previews/{user.user_id}/{job_id}/0_thumb.jpg",
    }
    assert api.storage is not None
    await api.storage.put_bytes(str(done["output_key"]), b"RIFF-webp", "image/webp")
    await api.storage.put_bytes(str(done["preview_key"]), b"jpeg", "image/jpeg")
    answer = await api.http.post(
        f"/jobs/{job_id}/callback", json=done, headers={"X-Callback-Secret": TEST_CALLBACK_SECRET}
    )
    assert answer.status_code == 200, answer.text
    received: list[ServerSentEvent] = []
    headers = {**user.headers, "Last-Event-ID": "0"}
    async with aconnect_sse(sse, "GET", f"/jobs/{job_id}/events", headers=headers) as source:
        async for event in source.aiter_sse():
            received.append(event)
    [item] = [_data(event) for event in received if event.event == "item"]
    assert f"/outputs/{user.user_id}/{job_id}/0_result.webp?" in item["output_url"]
