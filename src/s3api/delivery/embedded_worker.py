"""The reference worker inside `s3api serve`, so a job completes with nothing else running.

It is the same pull worker as `s3api worker`, talking HTTP to this server's own address.
On shutdown the server has already stopped listening, so an unfinished lease is released
in-process instead of over HTTP, and items in progress get no grace period.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from s3api.delivery.schemas import LeaseRetry
from s3api.delivery.service import DeliveryService
from s3api.settings import Settings
from s3api.worker.engine.registry import ImageEngine
from s3api.worker.pull_loop import STOPPED_REASON, run_pull_worker, unless_stopped
from s3api.worker.settings import WorkerSettings

logger = logging.getLogger("s3api.delivery.embedded_worker")

READY_POLL_SECONDS = 0.1
RESTART_DELAY_SECONDS = 5.0


def embedded_worker_settings(settings: Settings) -> WorkerSettings:
    """Worker settings derived from the server's own (WORKER_* variables still apply)."""
    return WorkerSettings(
        _env_file=None,
        worker_api_base_url=settings.embedded_worker_api_url,
        gpu_callback_secret=settings.callback_secret,
        s3api_data_dir=settings.s3api_data_dir,
        worker_batch_concurrency=settings.queue_batch_concurrency,
        worker_lease_seconds=settings.queue_visibility_timeout_seconds,
        worker_shutdown_grace_seconds=0,
        worker_engine=settings.worker_engine,
        sam3_model=settings.sam3_model,
        worker_device=settings.worker_device,
        worker_gpu_batch=settings.worker_gpu_batch,
        worker_compile=settings.worker_compile,
        log_level=settings.log_level,
    )


async def wait_until_listening(base_url: str) -> None:
    """The lifespan starts before the socket listens; wait quietly instead of logging retries."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                await client.get(f"{base_url}/health")
                return
            except httpx.TransportError:
                await asyncio.sleep(READY_POLL_SECONDS)


async def run_embedded_worker(
    server_settings: Settings,
    delivery: DeliveryService,
    stop: asyncio.Event,
    engine: ImageEngine | None = None,
) -> None:
    """Run the pull worker against this server until `stop` is set.

    `engine` is the one `serve` built at start (so a bad engine setup stopped it there);
    without one the worker builds its own.
    """
    settings = embedded_worker_settings(server_settings)

    async def release_in_process(lease_id: str) -> None:
        retry = LeaseRetry(lease_id=lease_id, delay_seconds=0, error=STOPPED_REASON)
        await delivery.retry([retry])

    await unless_stopped(wait_until_listening(settings.api_base_url), stop)
    if stop.is_set():
        return
    while not stop.is_set():
        try:
            await run_pull_worker(settings, stop, release=release_in_process, engine=engine)
        except Exception:
            logger.exception("embedded worker crashed; restarting in %.0fs", RESTART_DELAY_SECONDS)
            await unless_stopped(asyncio.sleep(RESTART_DELAY_SECONDS), stop)
