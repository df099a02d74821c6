"""A scripted API for the worker's message processor, and messages to feed it."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from s3api.common.output_formats import OutputFormat
from s3api.worker.api_client import RetryPolicy, WorkerApiClient
from s3api.worker.compose.watermark import Watermark
from s3api.worker.engine import Engine, EngineResult
from s3api.worker.messages import WorkMessage
from s3api.worker.processing import MessageProcessor

FAST = RetryPolicy(attempts=2, backoff_seconds=0.0, backoff_max_seconds=0.0)


@dataclass
class FakeApi:
    """Storage and callback routes of a message, answered in memory."""

    inputs: dict[int, bytes]
    download_status: int = 200
    upload_status: int = 200
    callback_status: int = 200
    callback_answer: dict[str, Any] = field(
        default_factory=lambda: {"processed": True, "duplicate": False, "job_status": "running"}
    )
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    upload_types: dict[str, str] = field(default_factory=dict)
    stored: dict[str, bytes] = field(default_factory=dict)
    """Objects served at `/stored/<name>` (stored label maps); others there answer 404."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind, _, idx = request.url.path.strip("/").partition("/")
        if kind == "in":
            if self.download_status != 200:
                return httpx.Response(self.download_status)
            return httpx.Response(200, content=self.inputs[int(idx)])
        if kind == "stored":
            if idx not in self.stored:
                return httpx.Response(404)
            return httpx.Response(200, content=self.stored[idx])
        if kind in ("out", "prev", "masks"):
            self.uploads[request.url.path] = request.content
            self.upload_types[request.url.path] = request.headers["content-type"]
            return httpx.Response(self.upload_status)
        self.callbacks.append(json.loads(request.content))
        return httpx.Response(self.callback_status, json={"data": self.callback_answer})


def message(count: int, batch_concurrency: int = 4, **changes: Any) -> WorkMessage:
    body: dict[str, Any] = {
        "job_id": "job-1",
        "concepts": {"Floor": {"action": "recolor", "value": "oak_a"}},
        "protect": ["Grout"],
        "items": [
            {
                "idx": idx,
                "input_url": f"http://storage/in/{idx}",
                "output_url": f"http://storage/out/{idx}",
                "preview_url": f"http://storage/prev/{idx}",
                "output_key": f"outputs/u/job-1/{idx}_result.png",
                "preview_key": f"previews/u/job-1/{idx}_thumb.jpg",
            }
            for idx in range(count)
        ],
        "callback_url": "http://api/jobs/job-1/callback",
        "idempotency_prefix": "job-1",
        "batch_concurrency": batch_concurrency,
    }
    body.update(changes)
    return WorkMessage.model_validate(body)


def processor(fake: FakeApi, engine: Any = None, max_concurrency: int = 4) -> MessageProcessor:
    client = WorkerApiClient("http://api", "secret", FAST, transport=httpx.MockTransport(fake))
    return MessageProcessor(client, engine or Engine(), max_concurrency)


class RendezvousEngine:
    """Each call waits until `parties` calls run at once; records calls and the most seen."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=20)
        self.lock = threading.Lock()
        self.running = 0
        self.most_running = 0
        self.calls = 0

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        *,
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
    ) -> EngineResult:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.barrier.wait()
        finally:
            with self.lock:
                self.running -= 1
        return EngineResult(b"\x89PNG result", b"\xff\xd8\xff preview", 4, 3)
