"""A server process with DISPATCH_URL pushes to a local endpoint instead of waiting for pulls."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from s3api.worker.handler import handler
from tests.support.client_side import auth, sign_in, start_job
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.live import free_port, running_server, server_environment
from tests.support.worker import SECRET_HEADERS, ScriptedEndpoint, scripted_endpoint
from tests.support.worker_processes import is_terminal, read_ledger, wait_for_job

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 30.0


def dispatching_environment(
    tmp_path: Path, database_url: str, port: int, endpoint_url: str, **extra: str
) -> dict[str, str]:
    """A server that pushes to `endpoint_url`, retrying at once so tests stay short."""
    return server_environment(
        tmp_path / "data",
        database_url,
        port,
        DISPATCH_URL=endpoint_url,
        DISPATCH_BACKOFF_SECONDS="0",
        DISPATCH_POLL_INTERVAL_SECONDS="0.05",
        BACKGROUND_INTERVAL_SECONDS="0.2",
        **extra,
    )


def wait_for_requests(endpoint: ScriptedEndpoint, count: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(endpoint.requests) < count:
        assert time.monotonic() < deadline, f"endpoint saw {len(endpoint.requests)} requests"
        time.sleep(0.05)  # cross-process poll interval, not synchronisation


def test_pushed_message_is_retried_until_accepted_then_the_handler_completes_the_job(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    with scripted_endpoint([500, 500]) as (endpoint, endpoint_url):
        environment = dispatching_environment(
            tmp_path,
            migrated_url,
            port,
            endpoint_url,
            DISPATCH_MODE="serverless",
            DISPATCH_AUTH_HEADER="Authorization: Bearer platform-key",
            # must stay idle: a server that pushes never pulls for itself
            EMBEDDED_WORKER="true",
        )
        with (
            running_server(environment, port, tmp_path) as server,
            httpx.Client(timeout=30) as client,
        ):
            user = sign_in(client, server.base_url)
            job_id, _ = start_job(client, server.base_url, user, item_count=2)
            wait_for_requests(endpoint, 3)
            accepted = endpoint.requests[2]
            assert [r.path for r in endpoint.requests] == ["/run"] * 3
            assert accepted.headers["authorization"] == "Bearer platform-key"
            event = accepted.json()
            assert event["input"]["job_id"] == job_id
            assert event["input"]["attempts"] == 3
            assert (
                client.get(f"{server.base_url}/jobs/{job_id}", headers=auth(user)).json()["data"][
                    "job"
                ]["status"]
                == "queued"
            )

            monkeypatch.chdir(tmp_path)
            monkeypatch.setenv("GPU_CALLBACK_SECRET", TEST_CALLBACK_SECRET)
            assert handler(event) == {"job_id": job_id, "done": 2, "failed": 0}

            job = wait_for_job(client, server.base_url, user, job_id, is_terminal)
            assert job["status"] == "done"
            keys = read_ledger(migrated_url, job_id).idempotency_keys
            assert sorted(str(key) for key in keys.values()) == [f"{job_id}:0:3", f"{job_id}:1:3"]
            me = client.get(f"{server.base_url}/me", headers=auth(user)).json()["data"]
            assert (me["credits"], me["concurrent_jobs"]) == (10 - 2, 0)
        assert len(endpoint.requests) == 3


def test_server_dead_letters_a_message_its_endpoint_always_refuses(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    with scripted_endpoint([], default_status=500) as (endpoint, endpoint_url):
        environment = dispatching_environment(tmp_path, migrated_url, port, endpoint_url)
        with (
            running_server(environment, port, tmp_path) as server,
            httpx.Client(timeout=30) as client,
        ):
            user = sign_in(client, server.base_url)
            job_id, _ = start_job(client, server.base_url, user, item_count=3)
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal)
            assert job["status"] == "failed"
            me = client.get(f"{server.base_url}/me", headers=auth(user)).json()["data"]
            assert (me["credits"], me["concurrent_jobs"]) == (10, 0)
            dlq = client.get(f"{server.base_url}/queues/gpu-jobs/dlq", headers=SECRET_HEADERS)
            [entry] = dlq.json()["data"]["messages"]
            assert entry["job_id"] == job_id
            assert entry["attempts"] == 4
        assert len(endpoint.requests) == 4
