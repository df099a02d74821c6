"""Races across two server processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.client_side import auth, sign_in, start_job
from tests.support.databases import TEST_CALLBACK_SECRET, truncate_postgres
from tests.support.live import ServerProcess, store_results, two_servers_sharing

pytestmark = pytest.mark.slow
SECRET = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
CANCEL_ROUNDS = 15


@pytest.fixture
def two_servers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two `serve` processes on one PostgreSQL database and one shared object store."""
    asyncio.run(truncate_postgres(postgres_url))
    with two_servers_sharing(postgres_url, tmp_path) as servers:
        yield servers


def _callback(job_id: str, user_id: str, idx: int, status: str = "done") -> dict[str, object]:
    body: dict[str, object] = {
        "idx": idx,
        "status": status,
        "idempotency_key": f"{job_id}:{idx}:1",
    }
    if status == "done":
        body["output_key"] = f"outputs/{user_id}/{job_id}/{idx}_result.png"
        body["preview_key"] = f"previews/{user_id}/{job_id}/{idx}_thumb.jpg"
    return body


async def _races(first: str, second: str, data_dir: Path) -> None:
    urls = [first, second]
    async with httpx.AsyncClient(timeout=60) as client:
        with httpx.Client(timeout=30) as sync_client:
            user = sign_in(sync_client, first)
        creates = await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % 2]}/jobs",
                    json={"preset": "interior", "item_count": 1},
                    headers=auth(user),
                )
                for n in range(16)
            )
        )
        assert sorted(r.status_code for r in creates).count(201) == 1
        assert {r.status_code for r in creates} == {201, 429}
        [job_id] = [r.json()["data"]["job_id"] for r in creates if r.status_code == 201]
        await client.post(f"{first}/jobs/{job_id}/cancel", headers=auth(user))

        with httpx.Client(timeout=30) as sync_client:
            user = sign_in(sync_client, second)
            job_id, _ = start_job(sync_client, second, user, item_count=2)
        store_results(data_dir, user["user_id"], job_id, 2)
        callbacks = await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % 2]}/jobs/{job_id}/callback",
                    json=_callback(job_id, user["user_id"], 0),
                    headers=SECRET,
                )
                for n in range(48)
            )
        )
        assert all(r.status_code == 200 for r in callbacks)
        assert [r.json()["data"]["processed"] for r in callbacks].count(True) == 1
        job = (await client.get(f"{first}/jobs/{job_id}", headers=auth(user))).json()["data"]
        assert job["job"]["done_items"] == 1

        for _ in range(CANCEL_ROUNDS):
            with httpx.Client(timeout=30) as sync_client:
                user = sign_in(sync_client, first)
                job_id, _ = start_job(sync_client, first, user, item_count=2)
            store_results(data_dir, user["user_id"], job_id, 2)
            first_result = await client.post(
                f"{first}/jobs/{job_id}/callback",
                json=_callback(job_id, user["user_id"], 0),
                headers=SECRET,
            )
            assert first_result.status_code == 200
            last, cancel = await asyncio.gather(
                client.post(
                    f"{first}/jobs/{job_id}/callback",
                    json=_callback(job_id, user["user_id"], 1),
                    headers=SECRET,
                ),
                client.post(f"{second}/jobs/{job_id}/cancel", headers=auth(user)),
            )
            status = (await client.get(f"{second}/jobs/{job_id}", headers=auth(user))).json()[
                "data"
            ]["job"]["status"]
            me = (await client.get(f"{second}/me", headers=auth(user))).json()["data"]
            if cancel.status_code == 200:
                assert status == "canceled"
                assert last.json()["data"]["processed"] is False
                assert me["credits"] == 10 - 1
            else:
                assert cancel.status_code == 409
                assert status == "done"
                assert me["credits"] == 10 - 2
            assert me["concurrent_jobs"] == 0


def test_races_across_two_server_processes_on_one_postgres_database(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    asyncio.run(_races(first.base_url, second.base_url, first.data_dir))
