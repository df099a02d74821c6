"""One message → its items: download, run the engine in a thread, upload, report.

Edit items are handled here, analysis items in `worker.analysis`; both share the steps
below (`download_input`, `run_engine`, `upload`, `deliver`). Items run concurrently up to the smaller of the worker's and the message's
`batch_concurrency`. A bad item (undecodable image, bad rule value, missing input, result
over the storage limit) is reported as `failed` with a short reason; an item whose result
could not be reported (the API kept failing) leaves the message incomplete, so the caller
hands it back to the queue instead of acknowledging it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from s3api.observability.log_context import bind_item
from s3api.observability.worker_metrics import (
    observe_engine_time,
    observe_segmentations,
    observe_worker_item,
)
from s3api.worker.analysis import analyse_item
from s3api.worker.api_client import (
    ApiCallError,
    CallbackAnswer,
    ItemReport,
    RejectedApiError,
    WorkerApiClient,
)
from s3api.worker.dispatch import QueueMessage
from s3api.worker.engine.codec import MAX_PIXELS, ImageDecodeError, image_size
from s3api.worker.engine.engine import EngineResult
from s3api.worker.engine.registry import ImageEngine, InstanceEngine, serves_custom_concepts
from s3api.worker.memory import LARGE_ITEM_PIXELS, PixelBudget, release_memory
from s3api.worker.messages import AnalysisMessage, WorkItem, WorkMessage
from s3api.worker.outcomes import (
    CUSTOM_CONCEPTS_NEED_MODEL,
    ItemFailedError,
    ItemOutcome,
    short_reason,
)
from s3api.worker.segmentation import StoredSegmentation

logger = logging.getLogger("s3api.worker.processing")

DEFAULT_PIXEL_BUDGET = 100_000_000
_NOT_FOUND = 404
_TOO_LARGE = 413

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class MessageSummary:
    """Counts of one delivery's item outcomes."""

    job_id: str
    done: int
    failed: int
    unfinished: int

    @property
    def is_complete(self) -> bool:
        """Whether every item was reported, so the message can be acknowledged."""
        return self.unfinished == 0


class MessageProcessor:
    """Processes the items of one message with bounded concurrency and a pixel budget.

    Items over `max_input_pixels` fail with a reason before any decoding; the others draw
    their pixel count from one budget shared by every item this processor runs.
    """

    def __init__(
        self,
        api: WorkerApiClient,
        engine: ImageEngine,
        max_concurrency: int,
        *,
        max_input_pixels: int = MAX_PIXELS,
        pixel_budget: int = DEFAULT_PIXEL_BUDGET,
    ) -> None:
        self.api = api
        self.engine = engine
        self.max_concurrency = max(1, max_concurrency)
        self.max_input_pixels = max_input_pixels
        self.pixel_budget = PixelBudget(pixel_budget)

    async def process(
        self, message: QueueMessage, attempt: int, stop: asyncio.Event | None = None
    ) -> MessageSummary:
        """Process and report every item; items not begun when `stop` is set are skipped."""
        if isinstance(message, AnalysisMessage):
            return await self.run_items(
                message.job_id,
                message.items,
                message.batch_concurrency,
                attempt,
                stop,
                lambda item, ended, threads: analyse_item(
                    self, message, item, attempt, ended, threads
                ),
            )
        return await self.run_items(
            message.job_id,
            message.items,
            message.batch_concurrency,
            attempt,
            stop,
            lambda item, ended, threads: self._process_item(message, item, attempt, ended, threads),
        )

    async def run_items(
        self,
        job_id: str,
        items: Sequence[Item],
        batch_concurrency: int,
        attempt: int,
        stop: asyncio.Event | None,
        process_item: Callable[[Item, asyncio.Event, Executor], Awaitable[ItemOutcome]],
    ) -> MessageSummary:
        """Run `process_item` over `items`, at most the smaller concurrency at a time."""
        concurrency = min(self.max_concurrency, batch_concurrency)
        slots = asyncio.Semaphore(concurrency)
        job_ended = asyncio.Event()
        # One engine thread per item in flight (the default executor may have fewer), so a
        # model engine's batcher can gather that many photos while others encode.
        engine_threads = ThreadPoolExecutor(concurrency, thread_name_prefix="engine")

        async def run(item: Item) -> ItemOutcome:
            async with slots:
                if stop is not None and stop.is_set():
                    return ItemOutcome.NOT_STARTED
                if job_ended.is_set():
                    return ItemOutcome.SKIPPED
                # each item runs in its own task, so these ids stay with its log records
                bind_item(job_id, getattr(item, "idx", -1))
                started = time.perf_counter()
                outcome = await process_item(item, job_ended, engine_threads)
                observe_worker_item(outcome.value, time.perf_counter() - started)
                return outcome

        try:
            outcomes = await asyncio.gather(*(run(item) for item in items))
        finally:
            engine_threads.shutdown(wait=False)
        summary = MessageSummary(
            job_id=job_id,
            done=outcomes.count(ItemOutcome.DONE),
            failed=outcomes.count(ItemOutcome.FAILED),
            unfinished=outcomes.count(ItemOutcome.UNREPORTED)
            + outcomes.count(ItemOutcome.NOT_STARTED),
        )
        logger.info(
            "job=%s attempt=%d done=%d failed=%d unfinished=%d",
            summary.job_id,
            attempt,
            summary.done,
            summary.failed,
            summary.unfinished,
        )
        return summary

    async def deliver(
        self,
        job_id: str,
        idx: int,
        produce: Callable[[], Awaitable[tuple[str, T]]],
        send: Callable[[T], Awaitable[CallbackAnswer]],
        job_ended: asyncio.Event,
    ) -> ItemOutcome:
        """Produce an item's report (its status and body) and send it; never raises except
        on cancellation."""
        try:
            status, report = await produce()
            answer = await send(report)
        except ApiCallError as exc:
            logger.warning("job=%s idx=%d not reported: %s", job_id, idx, exc)
            return ItemOutcome.UNREPORTED
        except Exception:
            # An engine bug or resource exhaustion: let the queue redeliver within its budget.
            logger.exception("job=%s idx=%d crashed", job_id, idx)
            return ItemOutcome.UNREPORTED
        if not answer.processed and not answer.duplicate:
            # Only a job that moved on refuses a first result: the remaining items are moot.
            logger.info("job=%s is %s; skipping its other items", job_id, answer.job_status)
            job_ended.set()
        return ItemOutcome.DONE if status == "done" else ItemOutcome.FAILED

    async def download_input(self, url: str) -> tuple[bytes, int]:
        """The input's bytes and pixel count; ItemFailedError when missing or too large."""
        try:
            source = await self.api.download(url)
        except RejectedApiError as exc:
            if exc.status_code != _NOT_FOUND:
                raise
            raise ItemFailedError("input image is missing from storage") from exc
        try:
            width, height = image_size(source)
        except ImageDecodeError:
            width, height = 1, 1  # the engine reports what is wrong with it
        pixels = width * height
        if pixels > self.max_input_pixels:
            raise ItemFailedError(
                f"image is too large ({width}x{height} = {pixels / 1e6:.1f} MP, "
                f"limit {self.max_input_pixels / 1e6:g} MP)"
            )
        return source, pixels

    async def run_engine(self, pixels: int, call: Callable[[], T], engine_threads: Executor) -> T:
        """Run one engine call within the pixel budget; a ValueError becomes ItemFailedError."""
        engine_started = time.perf_counter()
        try:
            async with self.pixel_budget.reserve(pixels):
                return await asyncio.get_running_loop().run_in_executor(engine_threads, call)
        except ValueError as exc:  # ImageDecodeError, a bad rule value or a bad stored map
            raise ItemFailedError(short_reason(exc)) from exc
        finally:
            observe_engine_time(time.perf_counter() - engine_started)
            if pixels >= LARGE_ITEM_PIXELS:
                await asyncio.to_thread(release_memory)

    async def upload(self, url: str, data: bytes, content_type: str) -> None:
        """PUT one object; ItemFailedError when the storage refuses it as too large."""
        try:
            await self.api.upload(url, data, content_type)
        except RejectedApiError as exc:
            if exc.status_code != _TOO_LARGE:
                raise
            raise ItemFailedError("result is larger than the storage accepts") from exc

    async def _process_item(
        self,
        message: WorkMessage,
        item: WorkItem,
        attempt: int,
        job_ended: asyncio.Event,
        engine_threads: Executor,
    ) -> ItemOutcome:
        key = message.idempotency_key(item.idx, attempt)

        async def produce() -> tuple[str, ItemReport]:
            report = await self._result_report(message, item, key, engine_threads)
            return report.status, report

        return await self.deliver(
            message.job_id,
            item.idx,
            produce,
            lambda report: self.api.report_item(message.callback_url, report),
            job_ended,
        )

    async def _result_report(
        self, message: WorkMessage, item: WorkItem, key: str, engine_threads: Executor
    ) -> ItemReport:
        """Download, edit and upload one photo; a bad item becomes a `failed` report."""
        try:
            return await self._edit(message, item, key, engine_threads)
        except ItemFailedError as failure:
            logger.info("job=%s idx=%d failed: %s", message.job_id, item.idx, failure.reason)
            return ItemReport(
                idx=item.idx, status="failed", idempotency_key=key, error=failure.reason
            )

    async def _edit(
        self, message: WorkMessage, item: WorkItem, key: str, engine_threads: Executor
    ) -> ItemReport:
        if message.uses_custom_concepts and not serves_custom_concepts(self.engine):
            raise ItemFailedError(CUSTOM_CONCEPTS_NEED_MODEL)
        variants = [variant.concepts for variant in message.variants[1:]]
        if len(item.variant_urls) != len(variants):
            raise ItemFailedError("the message has no upload URL for every variant")
        source, pixels = await self.download_input(item.input_url)
        options: dict[str, Any] = {
            "output_format": message.output_format,
            "watermark": message.result_watermark,
        }
        segmentation: StoredSegmentation | None = None
        if isinstance(self.engine, InstanceEngine) and (item.segmentation or item.instances):
            segmentation = await StoredSegmentation.fetch(self.api, item)
            options.update(segmentation.engine_options(item))
        result = await self._rendered(message, source, pixels, variants, options, engine_threads)
        observe_segmentations(computed=len(result.segmented), reused=len(result.reused))
        content_type = message.output_format.content_type
        for url, image in zip(item.variant_urls, result.variant_images, strict=True):
            await self.upload(url, image, content_type)
        await self.upload(item.output_url, result.result_image, content_type)
        await self.upload(item.preview_url, result.preview_jpeg, "image/jpeg")
        stored = None if segmentation is None else await segmentation.store(self.upload, result)
        return ItemReport(
            idx=item.idx,
            status="done",
            idempotency_key=key,
            output_key=item.output_key,
            preview_key=item.preview_key,
            segmentation=stored,
        )

    async def _rendered(
        self,
        message: WorkMessage,
        source: bytes,
        pixels: int,
        variants: list[dict[str, Any]],
        options: dict[str, Any],
        engine_threads: Executor,
    ) -> EngineResult:
        """The engine's result, with every variant in `variant_images`: from one call (and
        one segmentation) on an instance engine, from one call per variant on another."""
        protect = message.effective_protect
        if isinstance(self.engine, InstanceEngine) or not variants:
            if variants:
                options = {**options, "variants": variants}
            run = functools.partial(
                self.engine.process, source, message.concepts, protect, **options
            )
            return await self.run_engine(pixels, run, engine_threads)
        renders = []
        for concepts in [message.concepts, *variants]:
            run = functools.partial(self.engine.process, source, concepts, protect, **options)
            renders.append(await self.run_engine(pixels, run, engine_threads))
        first = renders[0]
        return dataclasses.replace(
            first,
            variant_images=tuple(render.result_image for render in renders[1:]),
            segmented=tuple(name for render in renders for name in render.segmented),
        )
