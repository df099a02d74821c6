"""One message → its items: download, run the engine in a thread, upload, report.

Items run concurrently up to the smaller of the worker's and the message's
`batch_concurrency`. A bad item (undecodable image, bad rule value, missing input, result
over the storage limit) is reported as `failed` with a short reason; an item whose result
could not be reported (the API kept failing) leaves the message incomplete, so the caller
hands it back to the queue instead of acknowledging it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from s3api.observability.log_context import bind_item
from s3api.observability.worker_metrics import observe_engine_time, observe_worker_item
from s3api.worker.api_client import ApiCallError, ItemReport, RejectedApiError, WorkerApiClient
from s3api.worker.engine.codec import MAX_PIXELS, ImageDecodeError, image_size
from s3api.worker.engine.registry import ImageEngine, serves_custom_concepts
from s3api.worker.memory import LARGE_ITEM_PIXELS, PixelBudget, release_memory
from s3api.worker.messages import WorkItem, WorkMessage

logger = logging.getLogger("s3api.worker.processing")

MAX_REASON_LENGTH = 200
CUSTOM_CONCEPTS_NEED_MODEL = "custom concepts need a model engine"
DEFAULT_PIXEL_BUDGET = 100_000_000
_NOT_FOUND = 404
_TOO_LARGE = 413


class ItemOutcome(Enum):
    """What became of one item in this delivery."""

    DONE = "done"  # processed and reported as done (or the API already had a result)
    FAILED = "failed"  # reported as failed with a reason
    UNREPORTED = "unreported"  # the API never took a report: the message must come back
    NOT_STARTED = "not_started"  # the worker was stopping before the item began
    SKIPPED = "skipped"  # the job had ended meanwhile (e.g. canceled): nothing left to do


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


def short_reason(error: Exception) -> str:
    """A one-line reason for a failed item, short enough for the item's `error`."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:MAX_REASON_LENGTH]


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
        self, message: WorkMessage, attempt: int, stop: asyncio.Event | None = None
    ) -> MessageSummary:
        """Process and report every item; items not begun when `stop` is set are skipped."""
        concurrency = min(self.max_concurrency, message.batch_concurrency)
        slots = asyncio.Semaphore(concurrency)
        job_ended = asyncio.Event()
        # One engine thread per item in flight (the default executor may have fewer), so a
        # model engine's batcher can gather that many photos while others encode.
        engine_threads = ThreadPoolExecutor(concurrency, thread_name_prefix="engine")

        async def run(item: WorkItem) -> ItemOutcome:
            async with slots:
                if stop is not None and stop.is_set():
                    return ItemOutcome.NOT_STARTED
                if job_ended.is_set():
                    return ItemOutcome.SKIPPED
                # each item runs in its own task, so these ids stay with its log records
                bind_item(message.job_id, item.idx)
                started = time.perf_counter()
                outcome = await self._process_item(
                    message, item, attempt, job_ended, engine_threads
                )
                observe_worker_item(outcome.value, time.perf_counter() - started)
                return outcome

        try:
            outcomes = await asyncio.gather(*(run(item) for item in message.items))
        finally:
            engine_threads.shutdown(wait=False)
        summary = MessageSummary(
            job_id=message.job_id,
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

    async def _process_item(
        self,
        message: WorkMessage,
        item: WorkItem,
        attempt: int,
        job_ended: asyncio.Event,
        engine_threads: Executor,
    ) -> ItemOutcome:
        """Produce the item's report and deliver it; never raises except on cancellation."""
        key = message.idempotency_key(item.idx, attempt)
        try:
            report = await self._result_report(message, item, key, engine_threads)
            answer = await self.api.report_item(message.callback_url, report)
        except ApiCallError as exc:
            logger.warning("job=%s idx=%d not reported: %s", message.job_id, item.idx, exc)
            return ItemOutcome.UNREPORTED
        except Exception:
            # An engine bug or resource exhaustion: let the queue redeliver within its budget.
            logger.exception("job=%s idx=%d crashed", message.job_id, item.idx)
            return ItemOutcome.UNREPORTED
        if not answer.processed and not answer.duplicate:
            # Only a terminal job refuses a first result: the remaining items are moot.
            logger.info("job=%s is %s; skipping its other items", message.job_id, answer.job_status)
            job_ended.set()
        return ItemOutcome.DONE if report.status == "done" else ItemOutcome.FAILED

    async def _result_report(
        self, message: WorkMessage, item: WorkItem, key: str, engine_threads: Executor
    ) -> ItemReport:
        """Download, edit and upload one photo; a bad item becomes a `failed` report."""

        def failed(reason: str) -> ItemReport:
            logger.info("job=%s idx=%d failed: %s", message.job_id, item.idx, reason)
            return ItemReport(idx=item.idx, status="failed", idempotency_key=key, error=reason)

        if message.uses_custom_concepts and not serves_custom_concepts(self.engine):
            return failed(CUSTOM_CONCEPTS_NEED_MODEL)
        try:
            source = await self.api.download(item.input_url)
        except RejectedApiError as exc:
            if exc.status_code != _NOT_FOUND:
                raise
            return failed("input image is missing from storage")
        try:
            width, height = image_size(source)
        except ImageDecodeError:
            width, height = 1, 1  # the engine reports what is wrong with it
        pixels = width * height
        if pixels > self.max_input_pixels:
            return failed(
                f"image is too large ({width}x{height} = {pixels / 1e6:.1f} MP, "
                f"limit {self.max_input_pixels / 1e6:g} MP)"
            )
        engine_started = time.perf_counter()
        try:
            async with self.pixel_budget.reserve(pixels):
                run_engine = functools.partial(
                    self.engine.process,
                    source,
                    message.concepts,
                    message.effective_protect,
                    output_format=message.output_format,
                    watermark=message.result_watermark,
                )
                result = await asyncio.get_running_loop().run_in_executor(
                    engine_threads, run_engine
                )
        except ValueError as exc:  # ImageDecodeError or a bad rule value
            return failed(short_reason(exc))
        finally:
            observe_engine_time(time.perf_counter() - engine_started)
            if pixels >= LARGE_ITEM_PIXELS:
                await asyncio.to_thread(release_memory)
        try:
            content_type = message.output_format.content_type
            await self.api.upload(item.output_url, result.result_image, content_type)
            await self.api.upload(item.preview_url, result.preview_jpeg, "image/jpeg")
        except RejectedApiError as exc:
            if exc.status_code != _TOO_LARGE:
                raise
            return failed("result is larger than the storage accepts")
        return ItemReport(
            idx=item.idx,
            status="done",
            idempotency_key=key,
            output_key=item.output_key,
            preview_key=item.preview_key,
        )
