"""Shared helpers of the worker and dispatch tests (this module holds no tests).

`serve_in_thread` runs a tiny scripted HTTP endpoint (a stand-in for a GPU platform or a
flaky API) on a free port; `live_app` runs the real API in the test's event loop on a free
port, so the worker speaks real HTTP to it while the test still reaches its context.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from s3api.app import create_app
from s3api.context import AppContext
from s3api.worker.engine.samples import jpeg_bytes, room_image
from tests.support.databases import TEST_CALLBACK_SECRET, make_settings
from tests.support.factories import ApiClient, SignedIn

SECRET_HEADERS = {"X-Callback-Secret": TEST_CALLBACK_SECRET}
FLOOR_OAK: dict[str, Any] = {"concepts": {"Floor": {"action": "recolor", "value": "oak_a"}}}
HANG = -1
"""A scripted status that makes the endpoint hold the request until the test ends."""
CORRUPT_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
"""Passes confirm-upload's magic-byte check but cannot be decoded."""


def room_jpegs(count: int) -> list[bytes]:
    """Distinct realistic room photos as JPEG files, as the client would upload them."""
    sizes = [(640, 480), (480, 640), (800, 600), (512, 384)]
    return [
        jpeg_bytes(room_image(*sizes[index % len(sizes)], seed=index)) for index in range(count)
    ]


def _listening_socket() -> socket.socket:
    """Listening before the server starts, so early requests wait in the backlog."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


@dataclass
class RecordedRequest:
    """One request the endpoint received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class ScriptedEndpoint:
    """Answers each request with the next scripted status, then `default_status` forever."""

    script: list[int] = field(default_factory=list)
    default_status: int = 200
    answer: dict[str, Any] = field(default_factory=lambda: {"id": "run-1", "status": "IN_QUEUE"})
    requests: list[RecordedRequest] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        """A FastAPI app that records every request and answers from the script."""
        application = FastAPI()

        @application.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
        async def any_route(request: Request, path: str) -> Response:
            body = await request.body()
            with self._lock:
                self.requests.append(
                    RecordedRequest(request.method, "/" + path, dict(request.headers), body)
                )
                status = self.script.pop(0) if self.script else self.default_status
            if status == HANG:
                await asyncio.to_thread(self.released.wait, 30)
                status = 200
            return JSONResponse(self.answer, status_code=status)

        return application


@contextmanager
def serve_in_thread(application: FastAPI) -> Iterator[str]:
    """Serve `application` from a background thread; yields its base URL."""
    with _listening_socket() as listener:
        port = listener.getsockname()[1]
        config = uvicorn.Config(application, log_level="warning", log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@contextmanager
def scripted_endpoint(
    script: list[int], default_status: int = 200
) -> Iterator[tuple[ScriptedEndpoint, str]]:
    """A `ScriptedEndpoint` served on a free port; hanging requests are released at the end."""
    endpoint = ScriptedEndpoint(script=list(script), default_status=default_status)
    with serve_in_thread(endpoint.app()) as base_url:
        try:
            yield endpoint, base_url
        finally:
            endpoint.released.set()


@dataclass
class LiveApp:
    """The real API served over HTTP in the test's event loop."""

    base_url: str
    context: AppContext
    api: ApiClient

    async def queued_job(
        self,
        user: SignedIn,
        images: list[bytes],
        execute: dict[str, Any] | None = None,
        *,
        through_urls: bool = True,
    ) -> str:
        """Create a job, upload one image per item, confirm and execute; returns its id.

        `through_urls=False` writes the inputs straight into storage, for apps whose public
        URL deliberately leads nowhere.
        """
        created = await self.api.create_job(user, len(images))
        for entry, image in zip(created["presigned_urls"], images, strict=True):
            if through_urls:
                uploaded = await self.api.http.put(entry["url"], content=image)
                assert uploaded.status_code == 200, uploaded.text
            else:
                await self.context.storage.put_bytes(entry["key"], image, "image/jpeg")
        job_id = str(created["job_id"])
        assert (await self.api.confirm(user, job_id)).status_code == 200
        assert (await self.api.execute(user, job_id, execute or FLOOR_OAK)).status_code == 202
        return job_id

    async def pull(self, **body: Any) -> list[dict[str, Any]]:
        """`POST /queues/gpu-jobs/pull` as a worker would."""
        response = await self.api.http.post(
            "/queues/gpu-jobs/pull", json=body, headers=SECRET_HEADERS
        )
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["data"]["messages"]
        return messages


@asynccontextmanager
async def live_app(data_dir: Path, database_url: str, **overrides: Any) -> AsyncIterator[LiveApp]:
    """Serve a fully configured app (no lifespan: no background tasks) on a free port."""
    with _listening_socket() as listener:
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        values: dict[str, Any] = {"public_base_url": base_url, **overrides}
        application = create_app(make_settings(data_dir, database_url, **values), migrate=False)
        context: AppContext = application.state.context
        config = uvicorn.Config(application, log_level="warning", log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                yield LiveApp(
                    base_url, context, ApiClient(http, TEST_CALLBACK_SECRET, context.storage)
                )
        finally:
            server.should_exit = True
            await serving
            await context.close()
