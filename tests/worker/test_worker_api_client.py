"""The worker's HTTP client: transient failures are retried with exponential backoff, bounded."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from s3api.worker.api_client import (
    ItemReport,
    RejectedApiError,
    RetryPolicy,
    TransientApiError,
    WorkerApiClient,
)
from tests.support.worker import scripted_endpoint

FAST = RetryPolicy(attempts=4, backoff_seconds=0.01, backoff_max_seconds=0.05)
SECRET = "worker-secret"


def _client(base_url: str = "http://127.0.0.1:9", policy: RetryPolicy = FAST) -> WorkerApiClient:
    return WorkerApiClient(base_url, SECRET, policy, timeout_seconds=5)


async def test_5xx_and_429_are_retried_until_the_endpoint_recovers() -> None:
    with scripted_endpoint([500, 503, 429]) as (endpoint, base_url):
        async with _client() as client:
            body = await client.download(f"{base_url}/objects/input.jpg?signature=abc")
    assert body.startswith(b"{")
    assert [request.method for request in endpoint.requests] == ["GET"] * 4


async def test_transient_failures_give_up_after_the_attempt_budget() -> None:
    with scripted_endpoint([], default_status=502) as (endpoint, base_url):
        async with _client() as client:
            with pytest.raises(TransientApiError, match="answered 502"):
                await client.upload(f"{base_url}/objects/out.png", b"png", "image/png")
    assert len(endpoint.requests) == FAST.attempts


async def test_client_errors_are_rejected_without_retry() -> None:
    with scripted_endpoint([404]) as (endpoint, base_url):
        async with _client() as client:
            with pytest.raises(RejectedApiError) as raised:
                await client.download(f"{base_url}/objects/missing.jpg")
    assert raised.value.status_code == 404
    assert len(endpoint.requests) == 1


async def test_connection_errors_are_retried() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, content=b"image")

    client = WorkerApiClient("http://api", SECRET, FAST, transport=httpx.MockTransport(flaky))
    async with client:
        assert await client.download("http://storage/objects/in.jpg") == b"image"
    assert calls == 3


async def test_waits_between_attempts_double(caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(attempts=4, backoff_seconds=0.01, backoff_max_seconds=1.0)
    with scripted_endpoint([], default_status=500) as (_endpoint, base_url):
        async with _client(policy=policy) as client:
            with (
                caplog.at_level(logging.INFO, logger="s3api.worker.api"),
                pytest.raises(TransientApiError),
            ):
                await client.download(f"{base_url}/objects/in.jpg")
    waits = [float(m) for m in re.findall(r"in ([0-9.]+) seconds", caplog.text)]
    assert waits == [0.01, 0.02, 0.04]


async def test_log_lines_never_show_a_presigned_query(caplog: pytest.LogCaptureFixture) -> None:
    with scripted_endpoint([500]) as (_endpoint, base_url):
        async with _client() as client:
            with caplog.at_level(logging.INFO, logger="s3api.worker.api"):
                await client.download(f"{base_url}/objects/in.jpg?signature=top-secret")
    assert "objects/in.jpg" in caplog.text
    assert "top-secret" not in caplog.text


async def test_api_calls_carry_the_secret_and_storage_calls_do_not() -> None:
    with scripted_endpoint([]) as (endpoint, base_url):
        endpoint.answer = {"data": {"processed": True, "duplicate": False, "job_status": "running"}}
        async with _client(base_url) as client:
            answer = await client.report_item(
                f"{base_url}/jobs/j1/callback",
                ItemReport(idx=2, status="failed", idempotency_key="j1:2:1", error="bad"),
            )
            await client.upload(f"{base_url}/objects/out.png", b"png", "image/png")
    assert answer.processed
    callback, upload = endpoint.requests
    assert callback.headers["x-callback-secret"] == SECRET
    assert callback.json() == {
        "idx": 2,
        "status": "failed",
        "idempotency_key": "j1:2:1",
        "error": "bad",
    }
    assert "x-callback-secret" not in upload.headers
    assert upload.headers["content-type"] == "image/png"


async def test_release_when_stopping_tries_only_once() -> None:
    with scripted_endpoint([], default_status=503) as (endpoint, base_url):
        async with _client(base_url) as client:
            with pytest.raises(TransientApiError):
                await client.retry_later("lease-1", 0, "stopping", patient=False)
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0].json() == {
        "retries": [{"lease_id": "lease-1", "delay_seconds": 0, "error": "stopping"}]
    }
