"""Live jobs end to end: a `serve` process streams a worker's progress and sends webhooks."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.client_side import auth, sign_in
from tests.support.live import free_port, running_server, server_environment
from tests.support.webhooks import WaitingReceiver, verified_payloads
from tests.support.worker import room_jpegs, serve_in_thread
from tests.support.worker_processes import (
    WorkerProcess,
    start_photo_job,
    wait_for_job,
    worker_environment,
)

pytestmark = pytest.mark.slow
ITEMS = 5
WAIT_SECONDS = 60.0


def test_stream_of_a_five_item_job_run_by_the_worker_process(
    migrated_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = server_environment(tmp_path / "data", migrated_url, port)
    with running_server(environment, port, tmp_path) as server, httpx.Client(timeout=60) as client:
        user = sign_in(client, server.base_url)
        job_id = start_photo_job(client, server.base_url, user, room_jpegs(ITEMS))
        url = f"{server.base_url}/jobs/{job_id}/events"
        received = []
        with connect_sse(client, "GET", url, headers=auth(user)) as source:
            events = source.iter_sse()
            snapshot = next(events)
            received.append((snapshot.event, int(snapshot.id), json.loads(snapshot.data)))
            # the worker starts only once the stream is open, so every item is live
            worker = WorkerProcess(
                worker_environment(server.base_url, tmp_path / "worker-data"), tmp_path
            )
            try:
                received += [
                    (event.event, int(event.id), json.loads(event.data)) for event in events
                ]
            finally:
                exit_code = worker.terminate()
        assert exit_code == 0, worker.log()
    kinds = [kind for kind, _, _ in received]
    assert kinds[0] == "snapshot"
    assert received[0][2]["status"] == "queued"
    # items land in the order the worker finishes them; the job starts running with the first
    assert kinds[1:3] == ["item", "status"]
    assert kinds[3:] == ["item"] * (ITEMS - 1) + ["status", "end"]
    assert sorted(data["idx"] for kind, _, data in received if kind == "item") == list(range(ITEMS))
    assert all(data["output_url"] for kind, _, data in received if kind == "item")
    assert [data["status"] for kind, _, data in received if kind == "status"] == ["running", "done"]
    ids = [event_id for _, event_id, _ in received]
    assert ids == sorted(set(ids))


def test_serve_delivers_a_signed_job_completed_webhook_again_after_a_500(
    migrated_url: str, tmp_path: Path
) -> None:
    receiver = WaitingReceiver(script=[500])
    port = free_port()
    environment = server_environment(
        tmp_path / "data",
        migrated_url,
        port,
        WEBHOOK_RETRY_DELAYS="1",
        WEBHOOK_POLL_INTERVAL_SECONDS="0.1",
    )
    with (
        serve_in_thread(receiver.app()) as receiver_url,
        running_server(environment, port, tmp_path) as server,
        httpx.Client(timeout=30) as client,
    ):
        user = sign_in(client, server.base_url)
        created = client.post(
            f"{server.base_url}/jobs",
            json={"preset": "interior", "item_count": 1, "webhook_url": f"{receiver_url}/hook"},
            headers=auth(user),
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["data"]["job_id"]
        canceled = client.post(f"{server.base_url}/jobs/{job_id}/cancel", headers=auth(user))
        assert canceled.status_code == 200, canceled.text
        requests = receiver.wait_for(2, WAIT_SECONDS)
        secret = client.get(f"{server.base_url}/me/webhook-secret", headers=auth(user))
        payloads = verified_payloads(secret.json()["data"]["secret"], requests)
        # the server records the delivery only after the receiver's answer reaches it
        job = wait_for_job(
            client,
            server.base_url,
            user,
            job_id,
            lambda job: job["webhook"]["last_status"] != "retrying",
        )
    assert [payload["type"] for payload in payloads] == ["job.completed"] * 2
    assert payloads[0]["webhook-id"] == payloads[1]["webhook-id"]
    assert payloads[0]["data"]["status"] == "canceled"
    assert job["webhook"]["last_status"] == "delivered"
