"""`job.analysis` as `GET /jobs/{id}` and the analyze answer show it, with fresh URLs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.jobs.analysis import keys, repository
from s3api.jobs.analysis.messages import StoredMasks
from s3api.jobs.analysis.repository import AnalysisItemRecord, AnalysisRecord
from s3api.jobs.analysis.schemas import AnalysisItemState, AnalysisState
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.storage.base import ObjectStorage


@dataclass(frozen=True)
class LoadedAnalysis:
    """What `job.analysis` shows, read in one database read and signed after it."""

    job: JobRecord
    analysis: AnalysisRecord
    items: list[AnalysisItemRecord]
    inputs: dict[int, str]
    stored: StoredMasks


async def load_analysis(
    connection: AsyncConnection, job: JobRecord, items: Sequence[ItemRecord]
) -> LoadedAnalysis | None:
    """The job's analysis rows and stored maps; None if it was never analysed."""
    analysis = await repository.find_analysis(connection, job.id)
    if analysis is None:
        return None
    return LoadedAnalysis(
        job=job,
        analysis=analysis,
        items=await repository.find_items(connection, job.id),
        inputs={item.idx: item.input_key for item in items},
        stored=await repository.find_masks(connection, [item.input_key for item in items]),
    )


async def signed_analysis(
    storage: ObjectStorage, loaded: LoadedAnalysis | None, ttl: int
) -> AnalysisState | None:
    """`job.analysis` with pre-signed GET URLs of what each analysed photo has stored.

    An expired job shows its statuses without URLs, as it shows no `download_urls`.
    """
    if loaded is None:
        return None
    job = loaded.job
    expired = job.expired_at is not None

    async def state(record: AnalysisItemRecord) -> AnalysisItemState:
        shown = AnalysisItemState(idx=record.idx, status=record.status, error=record.error)
        if expired or record.analysed_at is None:
            return shown
        masks = loaded.stored.get(loaded.inputs[record.idx], {})
        concepts = sorted(masks)
        urls = await asyncio.gather(
            storage.presign_get(keys.instances_key(job.user_id, job.id, record.idx), ttl),
            storage.presign_get(keys.overlay_key(job.user_id, job.id, record.idx), ttl),
            *(storage.presign_get(masks[concept].mask_key, ttl) for concept in concepts),
        )
        shown.instances_url, shown.overlay_url = urls[0], urls[1]
        shown.masks = dict(zip(concepts, urls[2:], strict=True))
        return shown

    return AnalysisState(
        status=loaded.analysis.status,
        concepts=loaded.analysis.concepts,
        items=list(await asyncio.gather(*(state(record) for record in loaded.items))),
    )
