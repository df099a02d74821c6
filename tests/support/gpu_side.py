"""A minimal stand-in for the GPU side, speaking the pull API over real HTTP."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from tests.support.databases import TEST_CALLBACK_SECRET

SECRET = {"X-Callback-Secret": TEST_CALLBACK_SECRET}


def png_of(data: bytes) -> bytes:
    """A PNG re-encoding of an input image (the 'result')."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def pull(client: httpx.Client, base_url: str, **body: Any) -> list[dict[str, Any]]:
    """`POST /queues/gpu-jobs/pull`."""
    response = client.post(f"{base_url}/queues/gpu-jobs/pull", json=body, headers=SECRET)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]["messages"]
    return messages


def process_message(client: httpx.Client, message: dict[str, Any]) -> dict[int, bytes]:
    """Download every input, upload a result and a preview, report each item, ack."""
    body = message["body"]
    results: dict[int, bytes] = {}
    for item in body["items"]:
        source = client.get(item["input_url"])
        assert source.status_code == 200, source.text
        result = png_of(source.content)
        for url, payload in ((item["output_url"], result), (item["preview_url"], source.content)):
            uploaded = client.put(
                url, content=payload, headers={"Content-Type": "application/octet-stream"}
            )
            assert uploaded.status_code in (200, 201, 204), uploaded.text
        report = client.post(
            body["callback_url"],
            json={
                "idx": item["idx"],
                "status": "done",
                "output_key": item["output_key"],
                "preview_key": item["preview_key"],
                "idempotency_key": f"{body['idempotency_prefix']}:{item['idx']}:{message['attempts']}",
            },
            headers=SECRET,
        )
        assert report.status_code == 200, report.text
        results[item["idx"]] = result
    base_url = body["callback_url"].split("/jobs/")[0]
    acked = client.post(
        f"{base_url}/queues/gpu-jobs/ack",
        json={"acks": [{"lease_id": message["lease_id"]}]},
        headers=SECRET,
    )
    assert acked.json()["data"]["acked"] == 1
    return results
