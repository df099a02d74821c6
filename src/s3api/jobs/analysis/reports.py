"""Checks of what the GPU side says it stored: instance summaries and objects in storage.

Used by the analysis callback and by the item callback, which may report the label maps an
edit stored for the concepts it had to segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from s3api.errors import ApiError, ErrorCode
from s3api.jobs.analysis import keys
from s3api.jobs.analysis.repository import StoredMaskRecord
from s3api.jobs.analysis.schemas import (
    MAX_INSTANCES_PER_CONCEPT,
    InstanceSummary,
    SegmentationReport,
)
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.storage.base import ObjectStorage
from s3api.storage.sniff import SNIFF_BYTES, detect_image_type

_STORAGE_PARALLELISM = 16


def refused(message: str, **details: object) -> ApiError:
    """A 400 about the reported maps, naming the offender in `details`."""
    return ApiError(ErrorCode.VALIDATION_FAILED, message, dict(details))


def check_summaries(
    concept: str, summaries: Sequence[InstanceSummary], width: int, height: int
) -> None:
    """Unique ids; each box inside the photo with a positive size; area within its box."""
    if len(summaries) > MAX_INSTANCES_PER_CONCEPT:
        raise refused(
            f"at most {MAX_INSTANCES_PER_CONCEPT} instances per concept",
            field="instances",
            concept=concept,
        )
    ids = [summary.id for summary in summaries]
    if len(set(ids)) != len(ids):
        raise refused("instance ids must be unique per concept", field="instances", concept=concept)
    for summary in summaries:
        x, y, w, h = summary.bbox
        inside = x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= width and y + h <= height
        if not inside or summary.area > w * h:
            raise refused(
                "an instance's bbox or area does not fit the photo",
                field="instances",
                concept=concept,
                id=summary.id,
            )


async def check_objects(
    storage: ObjectStorage, objects: Sequence[tuple[str, bool]], max_bytes: int
) -> None:
    """Every `(key, is_png)` exists, is not empty, is at most `max_bytes` and, for PNGs,
    starts with the PNG signature; else 409 `UPLOAD_INCOMPLETE` naming the keys."""
    gate = asyncio.Semaphore(_STORAGE_PARALLELISM)

    async def problem(key: str, is_png: bool) -> str | None:
        async with gate:
            info = await storage.head(key)
            if info is None:
                return "missing"
            if info.size == 0 or info.size > max_bytes:
                return "invalid"
            if not is_png:
                return None
            head = await storage.read_head_bytes(key, SNIFF_BYTES)
            return None if detect_image_type(head) == "png" else "invalid"

    problems = await asyncio.gather(*(problem(key, png) for key, png in objects))
    missing = [key for (key, _), p in zip(objects, problems, strict=True) if p == "missing"]
    invalid = [key for (key, _), p in zip(objects, problems, strict=True) if p == "invalid"]
    if missing or invalid:
        raise ApiError(
            ErrorCode.UPLOAD_INCOMPLETE,
            "Some reported objects are missing, too large or not PNG images",
            {"missing": missing, "invalid": invalid},
        )


async def checked_segmentation(
    storage: ObjectStorage,
    job: JobRecord,
    item: ItemRecord,
    report: SegmentationReport,
    max_bytes: int,
) -> list[StoredMaskRecord]:
    """The label maps an edit reports it stored, under this item's keys and present in
    storage, as records to keep; 400 or 409 otherwise."""
    expected_instances = keys.instances_key(job.user_id, job.id, item.idx)
    if report.instances_key != expected_instances:
        raise refused(
            "segmentation.instances_key is not this item's key",
            field="segmentation.instances_key",
            expected_key=expected_instances,
        )
    records = []
    for concept, key in sorted(report.masks.items()):
        expected = keys.label_map_key(job.user_id, job.id, item.idx, concept)
        if key != expected or concept not in report.instances:
            raise refused(
                "a reported mask is not this item's key for its concept, or has no instances",
                field="segmentation.masks",
                concept=concept,
                expected_key=expected,
            )
        check_summaries(concept, report.instances[concept], report.width, report.height)
        records.append(
            StoredMaskRecord(
                input_key=item.input_key,
                concept=concept,
                job_id=job.id,
                idx=item.idx,
                mask_key=expected,
                instances_key=expected_instances,
                instances=[summary.model_dump() for summary in report.instances[concept]],
                width=report.width,
                height=report.height,
            )
        )
    objects = [(record.mask_key, True) for record in records] + [(expected_instances, False)]
    await check_objects(storage, objects, max_bytes)
    return records
