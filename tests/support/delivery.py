"""Calls of the GPU-side queue routes, as a worker makes them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.databases import TEST_CALLBACK_SECRET

SECRET = {"X-Callback-Secret": TEST_CALLBACK_SECRET}


async def pull(http: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    response = await http.post("/queues/gpu-jobs/pull", json=body, headers=SECRET)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]["messages"]
    return messages


async def ack(http: httpx.AsyncClient, **body: Any) -> dict[str, int]:
    response = await http.post("/queues/gpu-jobs/ack", json=body, headers=SECRET)
    assert response.status_code == 200, response.text
    result: dict[str, int] = response.json()["data"]
    return result
