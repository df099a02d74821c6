"""The reference worker end to end: real photos through a server process over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from s3api.worker.engine.samples import jpeg_bytes, room_image
from tests.support.client_side import auth, sign_in
from tests.support.live import free_port, running_server, server_environment
from tests.support.s3_server import moto_storage_environment
from tests.support.worker import room_jpegs
from tests.support.worker_processes import (
    INTERIOR_PROTECT_DEFAULTS,
    WorkerProcess,
    assert_results_follow_the_rules,
    is_terminal,
    read_ledger,
    start_photo_job,
    wait_for_job,
    worker_environment,
)

pytestmark = pytest.mark.slow

ITEMS = 3


def _check_completed_job(
    client: httpx.Client,
    base_url: str,
    user: dict[str, str],
    job: dict[str, object],
    photos: list[bytes],
) -> None:
    assert job["status"] == "done"
    assert job["progress"] == {"done": len(photos), "failed": 0, "total": len(photos)}
    assert_results_follow_the_rules(client, job, photos, ["Floor"], INTERIOR_PROTECT_DEFAULTS)
    me = client.get(f"{base_url}/me", headers=auth(user)).json()["data"]
    assert (me["credits"], me["concurrent_jobs"]) == (10 - len(photos), 0)


def _run_photo_job_with_a_worker_process(
    environment: dict[str, str], port: int, tmp_path: Path, photos: list[bytes]
) -> None:
    """Server process + `s3api worker` process: the job completes and the worker exits 0."""
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        worker = WorkerProcess(
            worker_environment(server.base_url, tmp_path / "worker-data"), tmp_path
        )
        try:
            user = sign_in(client, server.base_url)
            job_id = start_photo_job(client, server.base_url, user, photos)
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal, worker.log)
            _check_completed_job(client, server.base_url, user, job, photos)
        finally:
            exit_code = worker.terminate()
        assert exit_code == 0, worker.log()


def test_worker_process_edits_real_photos_and_exits_cleanly_on_sigterm(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    _run_photo_job_with_a_worker_process(environment, port, tmp_path, room_jpegs(ITEMS))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_worker_process_uploads_results_through_s3_presigned_urls(
    migrated_url: str, tmp_path: Path, moto_endpoint: str
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        **moto_storage_environment(moto_endpoint),
    )
    _run_photo_job_with_a_worker_process(environment, port, tmp_path, room_jpegs(2))


def test_embedded_worker_completes_a_job_with_nothing_else_running(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        EMBEDDED_WORKER="true",
        WORKER_POLL_INTERVAL_SECONDS="0.1",
        LOG_LEVEL="INFO",
    )
    photos = room_jpegs(ITEMS)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, photos)
        job = wait_for_job(client, server.base_url, user, job_id, is_terminal)
        _check_completed_job(client, server.base_url, user, job, photos)
    # uvicorn re-raises SIGTERM after a clean shutdown, so the log tells whether it was clean.
    log = server.log_path.read_text()
    assert f"worker pulling from http://127.0.0.1:{port}" in log
    assert "s3api.worker worker stopped" in log
    assert "Application shutdown complete" in log
    assert " ERROR " not in log
    assert " WARNING " not in log


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_worker_killed_mid_job_is_replaced_after_its_lease_and_each_item_counts_once(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    # Ten 2 MP photos, one at a time: the first worker is still busy when it dies.
    photos = [jpeg_bytes(room_image(1600, 1200, seed=seed)) for seed in range(10)]
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=30) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, photos)
        doomed = WorkerProcess(
            worker_environment(
                server.base_url,
                tmp_path / "worker-data",
                WORKER_LEASE_SECONDS="3",
                WORKER_BATCH_CONCURRENCY="1",
            ),
            tmp_path,
            name="doomed",
        )
        try:
            wait_for_job(
                client, server.base_url, user, job_id, lambda j: j["done_items"] >= 1, doomed.log
            )
        finally:
            doomed.kill()
        reported_before_kill = read_ledger(migrated_url, job_id)
        assert list(reported_before_kill.item_statuses.values()).count("pending") > 0

        successor = WorkerProcess(
            worker_environment(server.base_url, tmp_path / "worker-data"),
            tmp_path,
            name="successor",
        )
        try:
            job = wait_for_job(client, server.base_url, user, job_id, is_terminal, successor.log)
        finally:
            assert successor.terminate() == 0

        assert job["status"] == "done"
        assert (job["done_items"], job["failed_items"]) == (10, 0)
        ledger = read_ledger(migrated_url, job_id)
        assert set(ledger.item_statuses.values()) == {"done"}
        attempts = {idx: str(key).rsplit(":", 1)[1] for idx, key in ledger.idempotency_keys.items()}
        assert set(attempts.values()) == {"1", "2"}
        for idx, status in reported_before_kill.item_statuses.items():
            if status == "done":
                assert attempts[idx] == "1"
        assert ledger.billing == [("reserve", -10)]
        me = client.get(f"{server.base_url}/me", headers=auth(user)).json()["data"]
        assert (me["credits"], me["concurrent_jobs"]) == (0, 0)
