"""The analysis message, and the stored-segmentation part of an edit message's items.

Both are built in the transaction that queues them, with keys only; delivery signs their
URLs (`with_analysis_urls`, `sign_segmentation`) as it does for the edit message.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from s3api.jobs.analysis import keys
from s3api.jobs.analysis.repository import StoredMaskRecord
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.storage.base import ObjectStorage

ANALYSIS_KIND = "analysis"
"""`kind` of an analysis message; an edit message has no `kind`."""

StoredMasks = dict[str, dict[str, StoredMaskRecord]]
"""input key → concept → stored label map."""


def analysis_message(
    job: JobRecord,
    items: Sequence[ItemRecord],
    run_id: str,
    requested: dict[int, list[str]],
    stored: StoredMasks,
    public_base_url: str,
    batch_concurrency: int,
) -> dict[str, Any]:
    """Segment `requested[idx]` of each photo; what is already stored comes along for merging."""
    wanted = [item for item in items if requested.get(item.idx)]
    concepts = list(dict.fromkeys(c for item in wanted for c in requested[item.idx]))
    return {
        "kind": ANALYSIS_KIND,
        "analysis_id": run_id,
        "job_id": job.id,
        "user_id": job.user_id,
        "preset": job.preset,
        "concepts": concepts,
        "items": [
            _analysis_item(job, item, requested[item.idx], stored.get(item.input_key, {}))
            for item in wanted
        ],
        "callback_url": f"{public_base_url}/jobs/{job.id}/analysis/callback",
        "idempotency_prefix": run_id,
        "batch_concurrency": batch_concurrency,
    }


def _analysis_item(
    job: JobRecord, item: ItemRecord, concepts: list[str], known: dict[str, StoredMaskRecord]
) -> dict[str, Any]:
    user_id, job_id, idx = job.user_id, job.id, item.idx
    return {
        "idx": idx,
        "input_key": item.input_key,
        "concepts": concepts,
        "masks": {c: {"key": keys.label_map_key(user_id, job_id, idx, c)} for c in concepts},
        "known_masks": {c: {"key": mask.mask_key} for c, mask in sorted(known.items())},
        "known_instances": {c: mask.instances for c, mask in sorted(known.items())},
        "instances_key": keys.instances_key(user_id, job_id, idx),
        "overlay_key": keys.overlay_key(user_id, job_id, idx),
    }


def edit_segmentation(
    job: JobRecord, item: ItemRecord, concepts: Sequence[str], known: dict[str, StoredMaskRecord]
) -> dict[str, Any]:
    """An edit item's `segmentation`: the stored maps to apply the edits to, and where to
    store the maps of the concepts that are missing."""
    masks: dict[str, dict[str, Any]] = {}
    for concept in concepts:
        mask = known.get(concept)
        if mask is None:
            key = keys.label_map_key(job.user_id, job.id, item.idx, concept)
            masks[concept] = {"key": key, "stored": False}
        else:
            masks[concept] = {
                "key": mask.mask_key,
                "stored": True,
                "instances_key": mask.instances_key,
            }
    segmentation: dict[str, Any] = {
        "masks": masks,
        # every map stored for the photo, so the merged instances file the worker writes
        # keeps the concepts this edit does not use
        "known_instances": {c: m.instances for c, m in sorted(known.items())},
    }
    if any(not entry["stored"] for entry in masks.values()):
        segmentation["instances_key"] = keys.instances_key(job.user_id, job.id, item.idx)
    return segmentation


async def with_analysis_urls(
    storage: ObjectStorage, body: dict[str, Any], expires_in: int
) -> dict[str, Any]:
    """A copy of an analysis message whose items carry their pre-signed URLs."""
    delivered = copy.deepcopy(body)

    async def sign(item: dict[str, Any]) -> None:
        async def put(entry: dict[str, Any]) -> None:
            entry["url"] = await storage.presign_put(entry["key"], expires_in)

        async def get(entry: dict[str, Any]) -> None:
            entry["url"] = await storage.presign_get(entry["key"], expires_in)

        item["input_url"], item["instances_url"], item["overlay_url"] = await asyncio.gather(
            storage.presign_get(item["input_key"], expires_in),
            storage.presign_put(item["instances_key"], expires_in),
            storage.presign_put(item["overlay_key"], expires_in),
        )
        await asyncio.gather(
            *(put(entry) for entry in item["masks"].values()),
            *(get(entry) for entry in item["known_masks"].values()),
        )

    await asyncio.gather(*(sign(item) for item in delivered["items"]))
    return delivered


async def sign_segmentation(
    storage: ObjectStorage, segmentation: dict[str, Any], expires_in: int
) -> None:
    """Give an edit item's `segmentation` its URLs, in place: GET for stored maps and their
    instances files, PUT for the maps and the instances file still to store."""

    async def sign(entry: dict[str, Any]) -> None:
        if entry["stored"]:
            entry["url"], entry["instances_url"] = await asyncio.gather(
                storage.presign_get(entry["key"], expires_in),
                storage.presign_get(entry["instances_key"], expires_in),
            )
        else:
            entry["url"] = await storage.presign_put(entry["key"], expires_in)

    await asyncio.gather(*(sign(entry) for entry in segmentation["masks"].values()))
    if "instances_key" in segmentation:
        segmentation["instances_url"] = await storage.presign_put(
            segmentation["instances_key"], expires_in
        )
