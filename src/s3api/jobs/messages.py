"""The GPU message of API.md §6: built at execute, given fresh URLs at delivery."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from s3api.jobs.analysis.messages import (
    ANALYSIS_KIND,
    edit_segmentation,
    sign_segmentation,
    with_analysis_urls,
)
from s3api.jobs.execution_plan import ExecutionPlan, MessageBuilder
from s3api.jobs.output_sets.messages import OUTPUT_SET_KIND, with_output_set_urls
from s3api.jobs.output_sets.variants import variant_keys
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.storage.base import ObjectStorage

GPU_JOBS_QUEUE = "gpu-jobs"
"""The queue that carries one message per queued job to the GPU side."""


def gpu_message_builder(public_base_url: str, batch_concurrency: int) -> MessageBuilder:
    """A builder whose `callback_url` starts with the service's public base URL."""

    def build(job: JobRecord, items: list[ItemRecord], plan: ExecutionPlan) -> dict[str, Any]:
        body = {
            "job_id": job.id,
            "user_id": job.user_id,
            "preset": job.preset,
            "concepts": plan.first_edit,
            "protect": plan.protect,
            "output_template": plan.output_template,
            "watermark": plan.watermark,
            "output_format": plan.output_format.value,
            "items": [_edit_item(job, item, plan) for item in items],
            "callback_url": f"{public_base_url}/jobs/{job.id}/callback",
            "idempotency_prefix": job.id,
            "batch_concurrency": batch_concurrency,
        }
        if plan.variants:
            body["variants"] = [variant.to_json() for variant in plan.variants]
        return body

    return build


def _edit_item(job: JobRecord, item: ItemRecord, plan: ExecutionPlan) -> dict[str, Any]:
    """One photo: its keys (its variants' too), the stored or still-to-store maps of every
    concept its renders edit, its selection."""
    chosen = plan.selection.get(item.input_key, {})
    concepts = list(dict.fromkeys([*plan.edited, *plan.protect, *chosen]))
    body: dict[str, Any] = {
        "idx": item.idx,
        "input_key": item.input_key,
        "output_key": item.output_key,
        "preview_key": item.preview_key,
        "segmentation": edit_segmentation(
            job, item, concepts, plan.stored_masks.get(item.input_key, {})
        ),
    }
    if chosen:
        body["instances"] = chosen
    if plan.variants:
        body["variant_keys"] = variant_keys(item.output_key, len(plan.variants))
    return body


async def with_item_urls(
    storage: ObjectStorage, body: dict[str, Any], expires_in: int
) -> dict[str, Any]:
    """A copy of the message whose items carry pre-signed input, output and preview URLs
    (and those of their label maps); analysis and assembly messages get their own URLs."""
    if body.get("kind") == ANALYSIS_KIND:
        return await with_analysis_urls(storage, body, expires_in)
    if body.get("kind") == OUTPUT_SET_KIND:
        return await with_output_set_urls(storage, body, expires_in)
    delivered = copy.deepcopy(body)

    async def sign(item: dict[str, Any]) -> None:
        (
            item["input_url"],
            item["output_url"],
            item["preview_url"],
            *variant_urls,
        ) = await asyncio.gather(
            storage.presign_get(item["input_key"], expires_in),
            storage.presign_put(item["output_key"], expires_in),
            storage.presign_put(item["preview_key"], expires_in),
            *(storage.presign_put(key, expires_in) for key in item.get("variant_keys", [])),
        )
        if "variant_keys" in item:
            item["variant_urls"] = variant_urls
        if "segmentation" in item:
            await sign_segmentation(storage, item["segmentation"], expires_in)

    await asyncio.gather(*(sign(item) for item in delivered["items"]))
    return delivered
