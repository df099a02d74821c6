"""The assembly message of an output set, written in the transaction that ends its job.

It carries keys only; delivery signs them (`with_output_set_urls`) at hand-out, so the GPU
side reads the inputs and results and writes the set's files and zip with no storage
credentials of its own.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s3api.jobs.output_sets.repository import OutputSetRecord
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.storage.base import ObjectStorage

OUTPUT_SET_KIND = "output_set"
"""`kind` of an assembly message."""


@dataclass(frozen=True)
class OutputSetPolicy:
    """How assembly messages are addressed."""

    public_base_url: str


def output_set_message(
    job: JobRecord,
    done: Sequence[ItemRecord],
    record: OutputSetRecord,
    files: list[dict[str, Any]],
    zip_key: str,
    public_base_url: str,
) -> dict[str, Any]:
    """Compose `files` from the done photos' inputs and results, zip them with the results."""
    return {
        "kind": OUTPUT_SET_KIND,
        "set_id": record.set_id,
        "job_id": job.id,
        "user_id": job.user_id,
        "preset": job.preset,
        "template": record.template,
        "concepts": job.concepts or {},
        "protect": job.protect or [],
        "watermark": record.watermark,
        "output_format": job.output_format.value,
        "variants": record.variants or [],
        "items": [
            {
                "idx": item.idx,
                "input_key": item.input_key,
                "output_key": item.output_key,
                "variant_keys": _variant_keys(record, item.idx),
            }
            for item in sorted(done, key=lambda item: item.idx)
        ],
        "files": files,
        "zip_key": zip_key,
        "callback_url": f"{public_base_url}/jobs/{job.id}/output-set/callback",
        "idempotency_prefix": record.set_id,
    }


def _variant_keys(record: OutputSetRecord, idx: int) -> list[str]:
    """The stored renders of the photo's variants 1..n-1, none for a plain set."""
    listed = record.variant_keys or []
    return list(listed[idx]) if idx < len(listed) else []


async def with_output_set_urls(
    storage: ObjectStorage, body: dict[str, Any], expires_in: int
) -> dict[str, Any]:
    """A copy of an assembly message with GET URLs of its photos and PUT URLs of its files."""
    delivered = copy.deepcopy(body)

    async def sign_item(item: dict[str, Any]) -> None:
        item["input_url"], item["output_url"], *variant_urls = await asyncio.gather(
            storage.presign_get(item["input_key"], expires_in),
            storage.presign_get(item["output_key"], expires_in),
            *(storage.presign_get(key, expires_in) for key in item.get("variant_keys", [])),
        )
        item["variant_urls"] = variant_urls

    async def sign_file(entry: dict[str, Any]) -> None:
        entry["url"] = await storage.presign_put(entry["key"], expires_in)

    async def sign_zip() -> None:
        delivered["zip_url"] = await storage.presign_put(delivered["zip_key"], expires_in)

    await asyncio.gather(
        *(sign_item(item) for item in delivered["items"]),
        *(sign_file(entry) for entry in delivered["files"]),
        sign_zip(),
    )
    return delivered
