"""SAM 3 end to end on a tiny random-weight checkpoint, and custom concepts on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from s3api.worker.engine import Engine
from s3api.worker.settings import WorkerSettings
from tests.support.client_side import auth, sign_in
from tests.support.live import free_port, running_server, server_environment
from tests.support.worker import room_jpegs
from tests.support.worker_processes import (
    INTERIOR_PROTECT_DEFAULTS,
    WorkerProcess,
    assert_results_follow_the_rules,
    is_terminal,
    start_photo_job,
    wait_for_job,
    worker_environment,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

CUSTOM: dict[str, Any] = {
    "concepts": {"the red sofa": {"action": "recolor", "value": "#203040"}},
    "protect": ["the wooden floor"],
}


def sam3_engine_environment(model: Path) -> dict[str, str]:
    return {"WORKER_ENGINE": "sam3", "SAM3_MODEL": str(model), "WORKER_DEVICE": "cpu"}


def same_masks_engine(model: Path, data_dir: Path) -> Engine:
    """The worker's engine, loaded here too, to know which pixels it protected."""
    from s3api.worker.engine.sam3 import build_sam3_engine

    settings = WorkerSettings(
        _env_file=None, s3api_data_dir=data_dir, sam3_model=str(model), worker_device="cpu"
    )
    return build_sam3_engine(settings)


def credits_and_running(client: httpx.Client, base_url: str, user: dict[str, str]) -> Any:
    me = client.get(f"{base_url}/me", headers=auth(user)).json()["data"]
    return me["credits"], me["concurrent_jobs"]


def test_a_job_through_a_sam3_worker_process_ends_done(
    migrated_url: str, tmp_path: Path, tiny_sam3_model: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    photos = room_jpegs(3)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        worker = WorkerProcess(
            worker_environment(
                server.base_url,
                tmp_path / "worker-data",
                WORKER_GPU_BATCH="4",
                **sam3_engine_environment(tiny_sam3_model),
            ),
            tmp_path,
        )
        try:
            user = sign_in(client, server.base_url)
            job_id = start_photo_job(client, server.base_url, user, photos)
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal, worker.log)
            assert job["status"] == "done", worker.log()
            assert_results_follow_the_rules(
                client,
                job,
                photos,
                ["Floor"],
                INTERIOR_PROTECT_DEFAULTS,
                same_masks_engine(tiny_sam3_model, tmp_path / "check"),
            )
            assert credits_and_running(client, server.base_url, user) == (10 - len(photos), 0)
        finally:
            exit_code = worker.terminate()
        assert exit_code == 0, worker.log()
    assert "SAM 3 loaded from" in worker.log()


def test_the_embedded_sam3_worker_serves_custom_concepts(
    migrated_url: str, tmp_path: Path, tiny_sam3_model: Path
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        EMBEDDED_WORKER="true",
        WORKER_POLL_INTERVAL_SECONDS="0.1",
        **sam3_engine_environment(tiny_sam3_model),
    )
    photos = room_jpegs(2)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, photos, CUSTOM, preset="custom")
        job = wait_for_job(client, server.base_url, user, job_id, is_terminal)
        assert job["status"] == "done", server.log_path.read_text()[-3000:]
        assert_results_follow_the_rules(
            client,
            job,
            photos,
            ["the red sofa"],
            ["the wooden floor"],
            same_masks_engine(tiny_sam3_model, tmp_path / "check"),
        )


def test_custom_concepts_fail_on_the_heuristic_engine_and_are_refunded(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    photos = room_jpegs(2)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        worker = WorkerProcess(
            worker_environment(server.base_url, tmp_path / "worker-data"), tmp_path
        )
        try:
            user = sign_in(client, server.base_url)
            job_id = start_photo_job(client, server.base_url, user, photos, CUSTOM, preset="custom")
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal, worker.log)
            assert job["status"] == "failed"
            assert (job["done_items"], job["failed_items"]) == (0, len(photos))
            assert [item["error"] for item in job["items"]] == [
                "custom concepts need a model engine"
            ] * len(photos)
            assert credits_and_running(client, server.base_url, user) == (10, 0)
        finally:
            assert worker.terminate() == 0
    assert "custom concepts need a model engine" in worker.log()
