"""The reference worker's loop: pull one message, process it, acknowledge or hand it back.

Stopping (SIGTERM/SIGINT, or the server's shutdown for the embedded worker) ends pulling at
once; items already in progress get `WORKER_SHUTDOWN_GRACE_SECONDS` to finish and be
reported, and a message left unfinished is released for immediate redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

from prometheus_client import start_http_server
from pydantic import ValidationError

from s3api.worker.api_client import ApiCallError, PulledMessage, WorkerApiClient
from s3api.worker.assembly import OutputSetMessage, SetAssembler, engine_segment, is_output_set
from s3api.worker.dispatch import MalformedMessageError, QueueMessage, parse_message
from s3api.worker.engine.registry import ImageEngine, build_engine
from s3api.worker.processing import MessageProcessor, MessageSummary
from s3api.worker.settings import WorkerSettings

logger = logging.getLogger("s3api.worker")

MAX_ERROR_BACKOFF_SECONDS = 60.0
STOPPED_REASON = "worker stopped before finishing"

T = TypeVar("T")
LeaseReleaser = Callable[[str], Awaitable[object]]
"""Gives a lease back for immediate redelivery when the worker stops mid-message."""


async def unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await `awaitable`, or cancel it and return None as soon as `stop` is set."""
    work = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
            with suppress(asyncio.CancelledError):
                await work
    return None if work.cancelled() else work.result()


class PullWorker:
    """Pulls messages one at a time over HTTP and settles each lease."""

    def __init__(
        self,
        settings: WorkerSettings,
        api: WorkerApiClient,
        processor: MessageProcessor,
        release: LeaseReleaser | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.processor = processor
        self.assembler = SetAssembler(api, engine_segment(processor.engine))
        self._release = release or self._release_over_http

    async def run(self, stop: asyncio.Event) -> None:
        """Pull and process until `stop` is set; an empty queue is polled every interval."""
        failures = 0
        while not stop.is_set():
            try:
                pulled = await unless_stopped(
                    self.api.pull(1, self.settings.worker_lease_seconds), stop
                )
            except ApiCallError as exc:
                failures += 1
                delay = min(
                    self.settings.worker_poll_interval_seconds * 2**failures,
                    MAX_ERROR_BACKOFF_SECONDS,
                )
                logger.warning("pull failed (%s); trying again in %.1fs", exc, delay)
                await unless_stopped(asyncio.sleep(delay), stop)
                continue
            failures = 0
            if pulled is None:
                break
            if not pulled:
                await unless_stopped(
                    asyncio.sleep(self.settings.worker_poll_interval_seconds), stop
                )
            for message in pulled:
                await self.handle(message, stop)
        logger.info("worker stopped")

    async def handle(self, pulled: PulledMessage, stop: asyncio.Event) -> None:
        """Process one leased message, then acknowledge it or hand it back to the queue."""
        if is_output_set(pulled.body):
            await self._assemble(pulled, stop)
            return
        try:
            message = parse_message(pulled.body)
        except MalformedMessageError as exc:
            logger.error("message %s: %s; handing it back", pulled.id, exc)
            await self._retry_later(pulled, "malformed message")
            return
        logger.info(
            "message=%s job=%s attempt=%d items=%d",
            pulled.id,
            message.job_id,
            pulled.attempts,
            len(message.items),
        )
        summary = await self._process_within_grace(message, pulled.attempts, stop)
        if summary is not None and summary.is_complete:
            await self._acknowledge(pulled, patient=not stop.is_set())
        elif stop.is_set():
            await self._release_quietly(pulled)
        else:
            unfinished = summary.unfinished if summary else len(message.items)
            await self._retry_later(pulled, f"{unfinished} item(s) could not be reported")

    async def _assemble(self, pulled: PulledMessage, stop: asyncio.Event) -> None:
        """An output set: assembled and reported whole, or handed back to come again."""
        try:
            message = OutputSetMessage.model_validate(pulled.body)
        except ValidationError:
            logger.error("message %s is malformed; handing it back", pulled.id)
            await self._retry_later(pulled, "malformed message")
            return
        logger.info("message=%s job=%s output set %s", pulled.id, message.job_id, message.template)
        reported = await unless_stopped(self.assembler.assemble(message, pulled.attempts), stop)
        if reported:
            await self._acknowledge(pulled, patient=not stop.is_set())
        elif stop.is_set():
            await self._release_quietly(pulled)
        else:
            await self._retry_later(pulled, "the output set could not be reported")

    async def _process_within_grace(
        self, message: QueueMessage, attempt: int, stop: asyncio.Event
    ) -> MessageSummary | None:
        """The message's summary, or None when stopping cut items in progress short."""
        work = asyncio.create_task(self.processor.process(message, attempt, stop))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                grace = self.settings.worker_shutdown_grace_seconds
                logger.info("stopping: finishing items in progress (up to %.0fs)", grace)
                await asyncio.wait({work}, timeout=grace)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()
                with suppress(asyncio.CancelledError):
                    await work
        return None if work.cancelled() else work.result()

    async def _acknowledge(self, pulled: PulledMessage, *, patient: bool) -> None:
        """When stopping, one attempt: a lost ack only means a redelivery of reported items."""
        try:
            acked = await self.api.acknowledge(pulled.lease_id, patient=patient)
        except ApiCallError as exc:
            logger.warning("ack of message %s failed (%s); it will come back", pulled.id, exc)
            return
        if not acked:
            logger.warning("lease of message %s had expired; it will come back", pulled.id)

    async def _retry_later(self, pulled: PulledMessage, reason: str) -> None:
        delay = self.settings.worker_message_retry_delay_seconds
        try:
            await self.api.retry_later(pulled.lease_id, delay, reason)
        except ApiCallError as exc:
            logger.warning("retry of message %s failed (%s); its lease will expire", pulled.id, exc)
            return
        logger.info("message %s handed back for %ds: %s", pulled.id, delay, reason)

    async def _release_quietly(self, pulled: PulledMessage) -> None:
        try:
            await self._release(pulled.lease_id)
        except Exception as exc:
            logger.warning(
                "release of message %s failed (%s); its lease will expire", pulled.id, exc
            )
            return
        logger.info("message %s released for redelivery", pulled.id)

    async def _release_over_http(self, lease_id: str) -> None:
        """One attempt only: when stopping, an unreachable API must not hold the exit up."""
        await self.api.retry_later(lease_id, 0, STOPPED_REASON, patient=False)


async def run_pull_worker(
    settings: WorkerSettings,
    stop: asyncio.Event,
    *,
    release: LeaseReleaser | None = None,
    engine: ImageEngine | None = None,
) -> None:
    """Build the engine and the API client, then pull until `stop` is set."""
    image_engine = engine if engine is not None else await asyncio.to_thread(build_engine, settings)
    async with WorkerApiClient.from_settings(settings) as api:
        processor = MessageProcessor(
            api,
            image_engine,
            settings.worker_batch_concurrency,
            max_input_pixels=settings.max_input_pixels,
            pixel_budget=settings.pixel_budget,
        )
        logger.info(
            "worker pulling from %s (concurrency %d, lease %ds)",
            settings.api_base_url,
            settings.worker_batch_concurrency,
            settings.worker_lease_seconds,
        )
        await PullWorker(settings, api, processor, release).run(stop)


def run_until_signalled(settings: WorkerSettings) -> None:
    """`s3api worker`: run until SIGTERM or SIGINT, then stop gracefully."""

    if settings.worker_metrics_port is not None:
        # the embedded worker's metrics are on the server's /metrics; this one serves its own
        start_http_server(settings.worker_metrics_port)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_pull_worker(settings, stop)

    asyncio.run(_main())
