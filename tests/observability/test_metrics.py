"""`GET /metrics`: values after a job runs through the API, queue figures, the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from s3api.app import create_app
from s3api.context import AppContext
from s3api.observability.metrics import count_job_created
from tests.support.clock import freeze_queue_clock
from tests.support.databases import TEST_CALLBACK_SECRET, make_settings
from tests.support.delivery import SECRET, pull
from tests.support.factories import ApiClient
from tests.support.processing import FakeApi, message, processor
from tests.support.worker import CORRUPT_JPEG, room_jpegs

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    response = await http.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def queue_state(samples: Samples, state: str) -> float:
    return value(samples, "s3api_queue_messages", queue="gpu-jobs", state=state)


async def test_a_job_run_through_the_api_shows_in_the_metrics(api: ApiClient) -> None:
    before = await scrape(api.http)
    user = await api.sign_in()
    created = await api.queued_job(user, item_count=3)
    job_id = created["job_id"]
    queued = await scrape(api.http)
    assert queue_state(queued, "ready") == 1
    assert queue_state(queued, "leased") == 0
    assert len(await pull(api.http)) == 1
    leased = await scrape(api.http)
    assert (queue_state(leased, "ready"), queue_state(leased, "leased")) == (0, 1)
    for idx, status in ((0, "done"), (1, "done"), (2, "failed")):
        response = await api.callback(job_id, user.user_id, idx, status, error="bad image")
        assert response.status_code == 200, response.text
    after = await scrape(api.http)

    assert delta(before, after, "s3api_jobs_created_total") == 1
    assert delta(before, after, "s3api_jobs_finished_total", status="done") == 1
    assert delta(before, after, "s3api_jobs_finished_total", status="failed") == 0
    assert delta(before, after, "s3api_items_finished_total", status="done") == 2
    assert delta(before, after, "s3api_items_finished_total", status="failed") == 1
    assert delta(before, after, "s3api_credits_moved_total", kind="grant") == 10
    assert delta(before, after, "s3api_credits_moved_total", kind="reserve") == 3
    assert delta(before, after, "s3api_credits_moved_total", kind="refund") == 1
    callback = {"method": "POST", "route": "/jobs/{job_id}/callback"}
    assert delta(before, after, "s3api_http_requests_total", **callback, status="200") == 3
    assert delta(before, after, "s3api_http_request_duration_seconds_count", **callback) == 3
    assert value(after, "s3api_queue_dead_letters", queue="gpu-jobs") == 0


async def test_a_repeated_result_counts_once(api: ApiClient) -> None:
    user = await api.sign_in()
    job_id = (await api.queued_job(user, item_count=2))["job_id"]
    before = await scrape(api.http)
    for _ in range(2):
        assert (await api.callback(job_id, user.user_id, 0)).status_code == 200
    after = await scrape(api.http)
    assert delta(before, after, "s3api_items_finished_total", status="done") == 1


async def test_dead_lettering_shows_exhausted_then_dead_and_the_refund(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user, item_count=3)
    while await pull(api.http, visibility_timeout_seconds=5):
        clock.advance(6)
    before = await scrape(api.http)
    assert queue_state(before, "exhausted") == 1
    assert await context.delivery.dead_letter_exhausted() == 1
    after = await scrape(api.http)
    assert queue_state(after, "exhausted") == 0
    assert value(after, "s3api_queue_dead_letters", queue="gpu-jobs") == 1
    assert delta(before, after, "s3api_jobs_finished_total", status="failed") == 1
    assert delta(before, after, "s3api_items_finished_total", status="failed") == 3
    assert delta(before, after, "s3api_credits_moved_total", kind="refund") == 3


async def test_a_retried_message_is_delayed_until_its_delay_passes(
    api: ApiClient, context: AppContext
) -> None:
    clock = freeze_queue_clock(context)
    user = await api.sign_in()
    await api.queued_job(user, item_count=1)
    [message] = await pull(api.http)
    retry = {"retries": [{"lease_id": message["lease_id"], "delay_seconds": 60}]}
    response = await api.http.post("/queues/gpu-jobs/ack", json=retry, headers=SECRET)
    assert response.status_code == 200, response.text
    assert queue_state(await scrape(api.http), "delayed") == 1
    clock.advance(61)
    samples = await scrape(api.http)
    assert (queue_state(samples, "delayed"), queue_state(samples, "ready")) == (0, 1)


async def test_counts_of_a_rolled_back_transaction_are_dropped(
    api: ApiClient, context: AppContext
) -> None:
    async def count_then_fail() -> None:
        async with context.database.transaction() as connection:
            count_job_created(connection)
            raise RuntimeError("rolled back")

    before = await scrape(api.http)
    with pytest.raises(RuntimeError):
        await count_then_fail()
    async with context.database.transaction() as connection:
        count_job_created(connection)
    after = await scrape(api.http)
    assert delta(before, after, "s3api_jobs_created_total") == 1


async def test_metrics_token_is_required_when_configured(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path / "data", database_url, metrics_token="metrics-token-0123456789"
    )
    application = create_app(settings, migrate=False)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await _check_metrics_token(ApiClient(http, TEST_CALLBACK_SECRET))
    await application.state.context.close()


async def _check_metrics_token(api: ApiClient) -> None:
    refusals: tuple[tuple[dict[str, str], str], ...] = (
        ({}, "AUTH_REQUIRED"),
        ({"Authorization": "Bearer wrong"}, "AUTH_INVALID_TOKEN"),
        ({"Authorization": "Basic metrics-token-0123456789"}, "AUTH_REQUIRED"),
    )
    for headers, code in refusals:
        response = await api.http.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == code
    samples = await scrape(api.http, {"Authorization": "Bearer metrics-token-0123456789"})
    assert queue_state(samples, "ready") == 0


async def test_an_unmatched_path_is_counted_under_one_label(api: ApiClient) -> None:
    before = await scrape(api.http)
    for path in ("/no-such-page-1", "/no-such-page-2"):
        assert (await api.http.get(path)).status_code == 404
    after = await scrape(api.http)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert delta(before, after, "s3api_http_requests_total", **unmatched) == 2
    assert not any("no-such-page" in str(labels) for _, labels in after)


async def test_the_worker_times_each_item_and_its_engine_run() -> None:
    def observed(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    items = "s3api_worker_item_duration_seconds_count"
    engine = "s3api_worker_engine_duration_seconds_count"
    before = (observed(items, outcome="done"), observed(items, outcome="failed"), observed(engine))
    fake = FakeApi(inputs={0: room_jpegs(1)[0], 1: CORRUPT_JPEG})
    await processor(fake).process(message(2), attempt=1)
    after = (observed(items, outcome="done"), observed(items, outcome="failed"), observed(engine))
    assert tuple(b - a for a, b in zip(before, after, strict=True)) == (1, 1, 2)


_RECORD = """
from s3api.observability.metrics import JOBS_CREATED
JOBS_CREATED.inc({count})
"""
_RENDER = """
import sys
from s3api.observability.scrape import QueueDepth, render_metrics
sys.stdout.write(render_metrics("gpu-jobs", QueueDepth(0, 0, 0, 0, 0)).decode())
"""


def _run_python(code: str, multiprocess_dir: Path) -> str:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiprocess_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_multiprocess_mode_adds_up_the_counts_of_every_process(tmp_path: Path) -> None:
    for count in (2, 5):
        _run_python(_RECORD.format(count=count), tmp_path)
    samples = parse(_run_python(_RENDER, tmp_path))
    assert value(samples, "s3api_jobs_created_total") == 7
    assert value(samples, "s3api_queue_messages", queue="gpu-jobs", state="ready") == 0


async def test_health_is_counted_under_its_route(api: ApiClient) -> None:
    # `/health` is answered before FastAPI's routing: it must still carry its route label
    before = await scrape(api.http)
    assert (await api.http.get("/health")).status_code == 200
    after = await scrape(api.http)
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert delta(before, after, "s3api_http_requests_total", **health) == 1
