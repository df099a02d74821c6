"""Metrics and JSON logs of real processes: a server and an `s3api worker` run one job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.observability.test_metrics import parse, value
from tests.support.client_side import sign_in
from tests.support.live import free_port, running_server, server_environment
from tests.support.worker import room_jpegs
from tests.support.worker_processes import (
    WorkerProcess,
    is_terminal,
    start_photo_job,
    wait_for_job,
    worker_environment,
)

pytestmark = pytest.mark.slow

METRICS_TOKEN = "live-metrics-token-0123456789"


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log written with LOG_FORMAT=json, each parsed as one object."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_server_and_worker_report_one_job_in_metrics_and_json_logs(
    migrated_url: str, tmp_path: Path
) -> None:
    port, worker_metrics_port = free_port(), free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    photos = room_jpegs(2)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        worker = WorkerProcess(
            worker_environment(
                server.base_url,
                tmp_path / "worker-data",
                LOG_FORMAT="json",
                WORKER_METRICS_PORT=str(worker_metrics_port),
            ),
            tmp_path,
        )
        try:
            user = sign_in(client, server.base_url)
            job_id = start_photo_job(client, server.base_url, user, photos)
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal, worker.log)
            assert job["status"] == "done"
            assert client.get(f"{server.base_url}/metrics").status_code == 401
            scraped = client.get(
                f"{server.base_url}/metrics",
                headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            )
            worker_scraped = client.get(f"http://127.0.0.1:{worker_metrics_port}/metrics")
        finally:
            assert worker.terminate() == 0, worker.log()

    server_metrics = parse(scraped.text)
    assert value(server_metrics, "s3api_jobs_finished_total", status="done") == 1
    assert value(server_metrics, "s3api_items_finished_total", status="done") == len(photos)
    callbacks = {"method": "POST", "route": "/jobs/{job_id}/callback", "status": "200"}
    assert value(server_metrics, "s3api_http_requests_total", **callbacks) == len(photos)
    worker_metrics = parse(worker_scraped.text)
    items = value(worker_metrics, "s3api_worker_item_duration_seconds_count", outcome="done")
    assert items == len(photos)
    assert value(worker_metrics, "s3api_worker_engine_duration_seconds_count") == len(photos)

    server_lines = _json_lines(server.log_path)
    callback_lines = [
        line
        for line in server_lines
        if line["logger"] == "s3api.access" and line.get("path", "").endswith("/callback")
    ]
    assert sorted(line["idx"] for line in callback_lines) == list(range(len(photos)))
    assert all(line["job_id"] == job_id and line["request_id"] for line in callback_lines)
    user_lines = [line for line in server_lines if line.get("user_id") == user["user_id"]]
    assert user_lines
    token = user["Authorization"].removeprefix("Bearer ")
    assert token not in server.log_path.read_text()
    assert any(line["logger"] == "s3api.worker" for line in _json_lines(worker.log_path))
