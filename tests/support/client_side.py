"""The mobile client's half of a job, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import jpeg_bytes


def sign_in(client: httpx.Client, base_url: str) -> dict[str, str]:
    """Anonymous sign-in; returns the auth headers and user id."""
    response = client.post(f"{base_url}/auth/anon", headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return {"Authorization": f"Bearer {data['token']}", "user_id": data["user_id"]}


def auth(user: dict[str, str]) -> dict[str, str]:
    """Only the Authorization header."""
    return {"Authorization": user["Authorization"]}


def start_job(
    client: httpx.Client, base_url: str, user: dict[str, str], item_count: int
) -> tuple[str, list[bytes]]:
    """Create, upload real JPEGs to the issued URLs, confirm and execute."""
    created = client.post(
        f"{base_url}/jobs",
        json={"preset": "interior", "item_count": item_count},
        headers=auth(user),
    )
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()["data"]
    inputs = []
    for entry in data["presigned_urls"]:
        image = jpeg_bytes(64 + entry["idx"], 48, (30 * entry["idx"], 90, 160))
        uploaded = client.put(
            entry["url"], content=image, headers={"Content-Type": "application/octet-stream"}
        )
        assert uploaded.status_code in (200, 201, 204), uploaded.text
        inputs.append(image)
    confirmed = client.post(
        f"{base_url}/jobs/{data['job_id']}/confirm-upload",
        headers={**auth(user), "Content-Type": "application/json"},
    )
    assert confirmed.status_code == 200, confirmed.text
    executed = client.post(
        f"{base_url}/jobs/{data['job_id']}/execute",
        json={"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}},
        headers=auth(user),
    )
    assert executed.status_code == 202, executed.text
    return str(data["job_id"]), inputs
