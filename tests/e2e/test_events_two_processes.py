"""A job's live stream held by one `serve` process sees events caused in another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.support.client_side import auth, sign_in, start_job
from tests.support.databases import TEST_CALLBACK_SECRET, truncate_postgres
from tests.support.live import ServerProcess, store_results, two_servers_sharing

pytestmark = pytest.mark.slow
SECRET = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
ITEMS = 3


@pytest.fixture
def two_servers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two `serve` processes on one PostgreSQL database and one shared object store."""
    asyncio.run(truncate_postgres(postgres_url))
    # pings and re-reads far apart: only the change notification can deliver in time
    with two_servers_sharing(postgres_url, tmp_path, STREAM_PING_SECONDS="600") as servers:
        yield servers


async def _follow_while_other_process_records(
    streaming: str, recording: str, user: dict[str, str], job_id: str
) -> list[tuple[str, dict[str, object]]]:
    received: list[tuple[str, dict[str, object]]] = []
    async with (
        httpx.AsyncClient(timeout=20) as client,
        aconnect_sse(
            client, "GET", f"{streaming}/jobs/{job_id}/events", headers=auth(user)
        ) as source,
    ):
        events = source.aiter_sse()
        snapshot = await anext(events)
        received.append((snapshot.event, json.loads(snapshot.data)))
        for idx in range(ITEMS):
            report = await client.post(
                f"{recording}/jobs/{job_id}/callback",
                json={
                    "idx": idx,
                    "status": "done",
                    "idempotency_key": f"{job_id}:{idx}:1",
                    "output_key": f"outputs/{user['user_id']}/{job_id}/{idx}_result.png",
                    "preview_key": f"previews/{user['user_id']}/{job_id}/{idx}_thumb.jpg",
                },
                headers=SECRET,
            )
            assert report.status_code == 200, report.text
        async for event in events:
            received.append((event.event, json.loads(event.data)))
    return received


def test_events_recorded_by_one_process_reach_a_stream_held_by_another(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    streaming, recording = two_servers
    with httpx.Client(timeout=30) as client:
        user = sign_in(client, recording.base_url)
        job_id, _ = start_job(client, recording.base_url, user, item_count=ITEMS)
    store_results(recording.data_dir, user["user_id"], job_id, ITEMS)
    received = asyncio.run(
        _follow_while_other_process_records(streaming.base_url, recording.base_url, user, job_id)
    )
    assert [kind for kind, _ in received] == [
        "snapshot",
        "item",
        "status",
        "item",
        "item",
        "status",
        "end",
    ]
    assert received[0][1]["status"] == "queued"
    assert received[-1][1] == {"status": "done"}
