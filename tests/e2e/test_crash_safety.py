"""A server killed right after execute commits loses nothing: the outbox row survives."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.client_side import auth, sign_in, start_job
from tests.support.gpu_side import process_message, pull
from tests.support.live import ServerProcess, free_port, server_environment

pytestmark = pytest.mark.slow


def test_message_of_a_job_executed_just_before_sigkill_is_delivered_after_restart(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    server = ServerProcess(environment, port, tmp_path)
    server.start()
    try:
        with httpx.Client(timeout=30) as client:
            user = sign_in(client, server.base_url)
            job_id, _ = start_job(client, server.base_url, user, item_count=2)
    finally:
        server.kill()

    restarted = ServerProcess(environment, port, tmp_path)
    restarted.start()
    try:
        with httpx.Client(timeout=30) as client:
            job = client.get(f"{restarted.base_url}/jobs/{job_id}", headers=auth(user))
            assert job.json()["data"]["job"]["status"] == "queued"
            [message] = pull(client, restarted.base_url)
            assert message["body"]["job_id"] == job_id
            assert message["attempts"] == 1
            process_message(client, message)
            done = client.get(f"{restarted.base_url}/jobs/{job_id}", headers=auth(user))
            assert done.json()["data"]["job"]["status"] == "done"
    finally:
        restarted.stop()
