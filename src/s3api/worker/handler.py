"""Entry point for serverless GPU platforms: the pushed message in, a job summary out.

The platform calls `handler({"input": message})`, where `message` is what the server's push
dispatcher sends (API.md §6 with per-item URLs, `callback_url` and `attempts`): an edit or
an analysis message (`worker.dispatch`). Every item
is processed with the pull worker's code and reported through its callback; the secret comes
from `GPU_CALLBACK_SECRET`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import httpx

from s3api.worker.api_client import WorkerApiClient
from s3api.worker.assembly import OutputSetMessage, SetAssembler, engine_segment, is_output_set
from s3api.worker.dispatch import parse_message
from s3api.worker.engine.registry import ImageEngine, build_engine
from s3api.worker.processing import MessageProcessor
from s3api.worker.settings import WorkerSettings

logger = logging.getLogger("s3api.worker.handler")

_engines: dict[tuple[object, ...], ImageEngine] = {}
_engines_lock = threading.Lock()


def _cached_engine(settings: WorkerSettings) -> ImageEngine:
    """One engine per process and configuration: warm invocations skip loading the model."""
    key = (
        settings.worker_engine,
        settings.sam3_model,
        settings.worker_device,
        settings.worker_gpu_batch,
        settings.worker_compile,
    )
    with _engines_lock:
        if key not in _engines:
            _engines[key] = build_engine(settings)
        return _engines[key]


def handler(event: dict[str, Any]) -> dict[str, Any]:
    """Process `event["input"]` and return `{job_id, done, failed}` (plus `error` if unfinished)."""
    return asyncio.run(handle_event(event, WorkerSettings()))


async def handle_event(
    event: dict[str, Any],
    settings: WorkerSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """`handler` for callers that already run an event loop."""
    payload = event.get("input")
    if not isinstance(payload, dict):
        return {"error": "event has no input message"}
    attempt = int(payload.get("attempts", 1))
    engine = await asyncio.to_thread(_cached_engine, settings)
    if is_output_set(payload):
        return await _assemble(payload, attempt, engine, settings, transport)
    message = parse_message(payload)
    async with WorkerApiClient.from_settings(settings, transport) as api:
        processor = MessageProcessor(
            api,
            engine,
            settings.worker_batch_concurrency,
            max_input_pixels=settings.max_input_pixels,
            pixel_budget=settings.pixel_budget,
        )
        summary = await processor.process(message, attempt)
    result: dict[str, Any] = {
        "job_id": summary.job_id,
        "done": summary.done,
        "failed": summary.failed,
    }
    if not summary.is_complete:
        # Platforms mark a run with an `error` as failed, which makes its retry policy apply.
        result["error"] = f"{summary.unfinished} item(s) could not be reported"
    return result


async def _assemble(
    payload: dict[str, Any],
    attempt: int,
    engine: ImageEngine,
    settings: WorkerSettings,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, Any]:
    """An output set's message: `{job_id, set_id}`, plus `error` when it was not reported."""
    message = OutputSetMessage.model_validate(payload)
    async with WorkerApiClient.from_settings(settings, transport) as api:
        reported = await SetAssembler(api, engine_segment(engine)).assemble(message, attempt)
    result: dict[str, Any] = {"job_id": message.job_id, "set_id": message.set_id}
    if not reported:
        result["error"] = "the output set could not be reported"
    return result
