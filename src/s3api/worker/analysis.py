"""One photo of an analysis message: segment its concepts, store maps, file and overlay.

The steps are those of an edit item (download, engine within the pixel budget, upload,
report; a bad photo is reported `failed` with a reason, an unreported one leaves the
message for redelivery). The stored objects are every requested concept's label map, the
photo's merged instances file (the concepts already stored plus the new ones) and the
overlay of every instance; then the analysis callback, with the key
`{analysis_id}:{idx}:{attempt}`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from s3api.observability.worker_metrics import observe_segmentations
from s3api.worker.api_client import AnalysisReport
from s3api.worker.engine.engine import AnalysisResult
from s3api.worker.engine.registry import InstanceEngine, serves_custom_concepts
from s3api.worker.messages import AnalysisItem, AnalysisMessage
from s3api.worker.outcomes import CUSTOM_CONCEPTS_NEED_MODEL, ItemFailedError, ItemOutcome
from s3api.worker.segmentation import instances_document, merged_instances

if TYPE_CHECKING:
    from s3api.worker.processing import MessageProcessor

logger = logging.getLogger("s3api.worker.analysis")

ENGINE_CANNOT_ANALYSE = "this worker's engine does not analyse photos"


async def analyse_item(
    processor: MessageProcessor,
    message: AnalysisMessage,
    item: AnalysisItem,
    attempt: int,
    job_ended: asyncio.Event,
    engine_threads: Executor,
) -> ItemOutcome:
    """Analyse and report one photo."""
    key = message.idempotency_key(item.idx, attempt)

    async def produce() -> tuple[str, AnalysisReport]:
        report = await _report(processor, message, item, key, engine_threads)
        return report.status, report

    return await processor.deliver(
        message.job_id,
        item.idx,
        produce,
        lambda report: processor.api.report_analysis(message.callback_url, report),
        job_ended,
    )


async def _report(
    processor: MessageProcessor,
    message: AnalysisMessage,
    item: AnalysisItem,
    key: str,
    engine_threads: Executor,
) -> AnalysisReport:
    def failed(reason: str) -> AnalysisReport:
        logger.info("job=%s idx=%d analysis failed: %s", message.job_id, item.idx, reason)
        return AnalysisReport(
            analysis_id=message.analysis_id,
            idx=item.idx,
            status="failed",
            idempotency_key=key,
            error=reason,
        )

    engine = processor.engine
    if not isinstance(engine, InstanceEngine):
        return failed(ENGINE_CANNOT_ANALYSE)
    if message.uses_custom_concepts and not serves_custom_concepts(engine):
        return failed(CUSTOM_CONCEPTS_NEED_MODEL)
    try:
        source, pixels = await processor.download_input(item.input_url)
        known = {
            concept: await processor.api.download(entry.url)
            for concept, entry in item.known_masks.items()
        }
        run = functools.partial(engine.analyze, source, item.concepts, known_maps=known)
        result: AnalysisResult = await processor.run_engine(pixels, run, engine_threads)
        observe_segmentations(computed=len(result.label_maps), reused=0)
        stored = await _store(processor, item, result)
    except ItemFailedError as failure:
        return failed(failure.reason)
    return AnalysisReport(
        analysis_id=message.analysis_id,
        idx=item.idx,
        status="done",
        idempotency_key=key,
        stored=stored,
    )


async def _store(
    processor: MessageProcessor, item: AnalysisItem, result: AnalysisResult
) -> dict[str, Any]:
    """Upload the maps, the merged instances file and the overlay; the callback's fields."""
    for concept in item.concepts:
        label_map = result.label_maps[concept]
        await processor.upload(item.masks[concept].url, label_map.png, "image/png")
    new = {concept: result.label_maps[concept].instances for concept in item.concepts}
    document = instances_document(
        result.width, result.height, merged_instances(item.known_instances, new)
    )
    await processor.upload(item.instances_url, document, "application/json")
    await processor.upload(item.overlay_url, result.overlay_png, "image/png")
    return {
        "width": result.width,
        "height": result.height,
        "masks": {concept: item.masks[concept].key for concept in item.concepts},
        "instances_key": item.instances_key,
        "overlay_key": item.overlay_key,
        "instances": new,
    }
