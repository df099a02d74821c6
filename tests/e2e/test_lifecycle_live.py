"""The whole job lifecycle over real HTTP against a server process, for both storage backends."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.client_side import auth, sign_in, start_job
from tests.support.gpu_side import process_message, pull
from tests.support.live import free_port, running_server, server_environment
from tests.support.s3_server import moto_storage_environment

pytestmark = pytest.mark.slow


def _run_lifecycle(base_url: str) -> None:
    with httpx.Client(timeout=30) as client:
        user = sign_in(client, base_url)
        job_id, _inputs = start_job(client, base_url, user, item_count=3)
        [message] = pull(client, base_url)
        assert message["body"]["job_id"] == job_id
        assert message["body"]["callback_url"] == f"{base_url}/jobs/{job_id}/callback"
        results = process_message(client, message)
        job = client.get(f"{base_url}/jobs/{job_id}", headers=auth(user)).json()["data"]["job"]
        assert job["status"] == "done"
        assert job["progress"] == {"done": 3, "failed": 0, "total": 3}
        assert [entry["idx"] for entry in job["download_urls"]] == [0, 1, 2]
        for entry in job["download_urls"]:
            downloaded = client.get(entry["output_url"])
            assert downloaded.status_code == 200
            assert downloaded.content == results[entry["idx"]]
            assert client.get(entry["preview_url"]).content[:3] == b"\xff\xd8\xff"
        me = client.get(f"{base_url}/me", headers=auth(user)).json()["data"]
        assert me["credits"] == 10 - 3
        assert me["concurrent_jobs"] == 0


def test_lifecycle_with_local_storage_over_real_http(migrated_url: str, tmp_path: Path) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    with running_server(environment, port, tmp_path) as server:
        _run_lifecycle(server.base_url)


def test_lifecycle_with_s3_backend_against_moto_server(
    migrated_url: str, tmp_path: Path, moto_endpoint: str
) -> None:
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        **moto_storage_environment(moto_endpoint),
    )
    with running_server(environment, port, tmp_path) as server:
        _run_lifecycle(server.base_url)
