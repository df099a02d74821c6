"""Instances end to end: analyze → execute with exclude and lock → re-run, on drawn rooms.

In-process (the pull worker the embedded worker runs, over real HTTP) on both databases
and both object stores; then a separate `s3api worker` process, with the default engine
and with SAM 3 on a tiny random-weight checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3api.worker.pull_loop import run_pull_worker
from s3api.worker.settings import WorkerSettings
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.instances_flow import (
    BLUE_WINDOWS,
    FlowResult,
    run_instances_flow,
    segmentations_in,
)
from tests.support.live import free_port, running_server, server_environment
from tests.support.s3_server import moto_storage_environment
from tests.support.worker import live_app
from tests.support.worker_processes import WorkerProcess, worker_environment

pytestmark = pytest.mark.slow


def _storage_overrides(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if kind == "local":
        return {}
    endpoint = str(request.getfixturevalue("moto_endpoint"))
    return {name.lower(): value for name, value in moto_storage_environment(endpoint).items()}


async def _refusal(
    http: httpx.AsyncClient, flow: FlowResult, instances: dict[str, Any]
) -> dict[str, Any]:
    body = {**BLUE_WINDOWS, "instances": instances}
    response = await http.post(f"/jobs/{flow.job_id}/rerun", json=body, headers=flow.headers)
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert [entry["field"] for entry in error["details"]["fields"]] == ["instances"]
    return dict(error["details"])


async def _bad_selections_change_nothing(http: httpx.AsyncClient, flow: FlowResult) -> None:
    me_before = (await http.get("/me", headers=flow.headers)).json()["data"]
    jobs_before = (await http.get("/jobs", headers=flow.headers)).json()["data"]
    unknown = await _refusal(http, flow, {"0": {"Window": {"exclude": [99]}}})
    assert (unknown["idx"], unknown["concept"], unknown["id"]) == (0, "Window", 99)
    not_analysed = await _refusal(http, flow, {"0": {"Floor": {"lock": [1]}}})
    assert (not_analysed["idx"], not_analysed["concept"]) == (0, "Floor")
    other_photo = await _refusal(http, flow, {"7": {"Window": {"lock": [1]}}})
    assert other_photo["idx"] == "7"  # as sent
    assert (await http.get("/me", headers=flow.headers)).json()["data"] == me_before
    assert (await http.get("/jobs", headers=flow.headers)).json()["data"] == jobs_before


@pytest.mark.parametrize("storage", ["local", "s3"])
async def test_instances_flow_with_the_in_process_worker(
    storage: str, request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> None:
    overrides = _storage_overrides(storage, request)
    async with live_app(tmp_path / "data", database_url, **overrides) as live:
        settings = WorkerSettings(
            _env_file=None,
            worker_api_base_url=live.base_url,
            gpu_callback_secret=TEST_CALLBACK_SECRET,
            worker_poll_interval_seconds=0.05,
            s3api_data_dir=tmp_path / "worker-data",
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(settings, stop))
        http = live.api.http

        async def server_metrics() -> dict[str, float]:
            # the worker runs in the server's process: its counters are on the server's page
            return segmentations_in((await http.get("/metrics")).text)

        try:
            flow = await run_instances_flow(http, server_metrics)
            await _bad_selections_change_nothing(http, flow)
        finally:
            stop.set()
            await worker


def _scraper(port: int) -> Callable[[], Any]:
    async def scrape() -> dict[str, float]:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                try:
                    page = await client.get(f"http://127.0.0.1:{port}/metrics")
                    return segmentations_in(page.text)
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "worker metrics never served"
                    await asyncio.sleep(0.2)

    return scrape


async def _flow_through_a_worker_process(
    migrated_url: str, tmp_path: Path, windows: int | None, **engine: str
) -> None:
    port, metrics_port = free_port(), free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    with running_server(environment, port, tmp_path) as server:
        worker = WorkerProcess(
            worker_environment(
                server.base_url,
                tmp_path / "worker-data",
                WORKER_METRICS_PORT=str(metrics_port),
                **engine,
            ),
            tmp_path,
        )
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                await run_instances_flow(http, _scraper(metrics_port), worker.log, windows=windows)
        finally:
            exit_code = worker.terminate()
        assert exit_code == 0, worker.log()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_instances_flow_through_a_worker_process(migrated_url: str, tmp_path: Path) -> None:
    await _flow_through_a_worker_process(migrated_url, tmp_path, windows=3)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_instances_flow_through_a_sam3_worker_process(
    migrated_url: str, tmp_path: Path, tiny_sam3_model: Path
) -> None:
    engine = {"WORKER_ENGINE": "sam3", "SAM3_MODEL": str(tiny_sam3_model), "WORKER_DEVICE": "cpu"}
    await _flow_through_a_worker_process(migrated_url, tmp_path, windows=None, **engine)
