"""A re-run end to end: a worker process finishes a job, then its re-run, over one upload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.client_side import auth, sign_in
from tests.support.live import free_port, running_server, server_environment
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

WALNUT_FLOOR = {"concepts": {"Floor": {"action": "recolor", "value": "walnut_a"}}}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_worker_process_finishes_a_rerun_over_the_parents_photos(
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
            parent = start_photo_job(client, server.base_url, user, photos)
            first = wait_for_job(client, server.base_url, user, parent, is_terminal, worker.log)
            assert first["status"] == "done"
            rerun = client.post(
                f"{server.base_url}/jobs/{parent}/rerun", json=WALNUT_FLOOR, headers=auth(user)
            )
            assert rerun.status_code == 202, rerun.text
            child = rerun.json()["data"]["job_id"]
            job = wait_for_job(client, server.base_url, user, child, is_terminal, worker.log)
        finally:
            assert worker.terminate() == 0, worker.log()
        assert (job["status"], job["parent_job_id"]) == ("done", parent)
        assert_results_follow_the_rules(client, job, photos, ["Floor"], INTERIOR_PROTECT_DEFAULTS)
        first_result = client.get(first["download_urls"][0]["output_url"]).content
        second_result = client.get(job["download_urls"][0]["output_url"]).content
        assert first_result != second_result
        me = client.get(f"{server.base_url}/me", headers=auth(user)).json()["data"]
        assert (me["credits"], me["concurrent_jobs"]) == (10 - 2 - 2, 0)
    assert read_ledger(migrated_url, child).billing == [("reserve", -2)]
