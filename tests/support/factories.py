"""Helpers that drive the API like the mobile client and the GPU side do."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from s3api.storage.base import ObjectStorage


def jpeg_bytes(
    width: int = 32, height: int = 24, color: tuple[int, int, int] = (120, 80, 40)
) -> bytes:
    """A real, small JPEG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


@dataclass
class SignedIn:
    """A signed-in test user."""

    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


class ApiClient:
    """Thin wrappers over the HTTP API, asserting the happy path's status codes."""

    def __init__(
        self, http: httpx.AsyncClient, callback_secret: str, storage: ObjectStorage | None = None
    ) -> None:
        self.http = http
        self.callback_secret = callback_secret
        self.storage = storage
        """Where `callback` stores a done item's result and preview first, as workers do."""

    async def sign_in(self, device_hash: str | None = None) -> SignedIn:
        """`POST /auth/anon`."""
        body = {"device_hash": device_hash} if device_hash else None
        response = await self.http.post("/auth/anon", json=body)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return SignedIn(user_id=data["user_id"], token=data["token"])

    async def me(self, user: SignedIn) -> dict[str, Any]:
        """`GET /me` data."""
        response = await self.http.get("/me", headers=user.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def create_job(
        self, user: SignedIn, item_count: int = 2, preset: str = "interior"
    ) -> dict[str, Any]:
        """`POST /jobs` data."""
        response = await self.http.post(
            "/jobs", json={"preset": preset, "item_count": item_count}, headers=user.headers
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def upload_all(self, created: dict[str, Any], body: bytes | None = None) -> None:
        """PUT an image to every pre-signed upload URL, as the client does."""
        payload = body or jpeg_bytes()
        for entry in created["presigned_urls"]:
            response = await self.http.put(
                entry["url"],
                content=payload,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code in (200, 201, 204), response.text

    async def confirm(self, user: SignedIn, job_id: str) -> httpx.Response:
        """`POST /jobs/{id}/confirm-upload` with the client's empty JSON body."""
        return await self.http.post(
            f"/jobs/{job_id}/confirm-upload",
            headers={**user.headers, "Content-Type": "application/json"},
        )

    async def execute(
        self, user: SignedIn, job_id: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """`POST /jobs/{id}/execute`."""
        payload = body or {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}}
        return await self.http.post(f"/jobs/{job_id}/execute", json=payload, headers=user.headers)

    async def queued_job(self, user: SignedIn, item_count: int = 2) -> dict[str, Any]:
        """A job taken through create, upload, confirm and execute."""
        created = await self.create_job(user, item_count)
        await self.upload_all(created)
        assert (await self.confirm(user, created["job_id"])).status_code == 200
        assert (await self.execute(user, created["job_id"])).status_code == 202
        return created

    async def callback(
        self,
        job_id: str,
        user_id: str,
        idx: int,
        status: str = "done",
        idempotency_key: str | None = None,
        error: str | None = None,
        store_results: bool = True,
    ) -> httpx.Response:
        """`POST /jobs/{id}/callback` as the GPU side, which stores a done item's result and
        preview before it reports them (unless `store_results` is false)."""
        body: dict[str, Any] = {
            "idx": idx,
            "status": status,
            "idempotency_key": idempotency_key or f"{job_id}:{idx}:1",
        }
        if status == "done":
            body["output_key"] = f"outputs/{user_id}/{job_id}/{idx}_result.png"
            body["preview_key"] = f"previews/{user_id}/{job_id}/{idx}_thumb.jpg"
            if store_results and self.storage is not None:
                await self.storage.put_bytes(body["output_key"], b"png-bytes", "image/png")
                await self.storage.put_bytes(body["preview_key"], jpeg_bytes(), "image/jpeg")
        if error:
            body["error"] = error
        return await self.http.post(
            f"/jobs/{job_id}/callback",
            json=body,
            headers={"X-Callback-Secret": self.callback_secret},
        )

    async def job(self, user: SignedIn, job_id: str) -> dict[str, Any]:
        """`GET /jobs/{id}` job object."""
        response = await self.http.get(f"/jobs/{job_id}", headers=user.headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]["job"]
        return job
