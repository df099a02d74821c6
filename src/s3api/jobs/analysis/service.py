"""Analysis use cases: validate, check the worker's objects in storage, then one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import item_repository
from s3api.jobs import repository as jobs_repository
from s3api.jobs.analysis import keys, repository
from s3api.jobs.analysis.lifecycle import AnalysisLifecycle, AnalysisResult, check_idx
from s3api.jobs.analysis.reports import check_objects, check_summaries, refused
from s3api.jobs.analysis.repository import StoredMaskRecord
from s3api.jobs.analysis.schemas import (
    AnalysisAnswer,
    AnalysisCallback,
    AnalysisCallbackOutcome,
    AnalysisItemStatus,
    AnalyzeRequest,
)
from s3api.jobs.analysis.views import load_analysis, signed_analysis
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.jobs.schemas import JobExecute
from s3api.jobs.service import JobsService
from s3api.storage.base import ObjectStorage


@dataclass(frozen=True)
class Analyzed:
    """The analyze answer and its status: 202 when a run was queued, 200 from storage."""

    status_code: int
    answer: AnalysisAnswer


class AnalysisService:
    """`POST /jobs/{id}/analyze` and `POST /jobs/{id}/analysis/callback`."""

    def __init__(
        self,
        database: Database,
        lifecycle: AnalysisLifecycle,
        jobs: JobsService,
        storage: ObjectStorage,
        presign_ttl_seconds: int,
        max_object_bytes: int,
    ) -> None:
        self.database = database
        self.lifecycle = lifecycle
        self.jobs = jobs
        self.storage = storage
        self.presign_ttl_seconds = presign_ttl_seconds
        self.max_object_bytes = max_object_bytes

    async def analyze(self, user_id: str, job_id: str, payload: AnalyzeRequest) -> Analyzed:
        """Segment the edited and protected concepts of every photo, once per photo and concept."""
        edits = JobExecute(
            concepts=payload.concepts, protect=payload.protect, rule_id=payload.rule_id
        )
        plan = await self.jobs.edits_of(user_id, job_id, edits)
        concepts = list(dict.fromkeys([*plan.concepts, *plan.protect]))
        queued = await self.lifecycle.start(user_id, job_id, concepts)
        async with self.database.read() as connection:
            job = await jobs_repository.find_job(connection, job_id, user_id=user_id)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            items = await item_repository.find_items(connection, job_id)
            loaded = await load_analysis(connection, job, items)
        state = await signed_analysis(self.storage, loaded, self.presign_ttl_seconds)
        assert state is not None
        return Analyzed(202 if queued else 200, AnalysisAnswer(queued=queued, analysis=state))

    async def record_callback(self, job_id: str, body: AnalysisCallback) -> AnalysisCallbackOutcome:
        """Record one photo's analysis; its objects are checked first, outside the transaction."""
        status = AnalysisItemStatus(body.status)
        masks: tuple[StoredMaskRecord, ...] = ()
        if status is AnalysisItemStatus.DONE:
            masks = await self._checked_masks(job_id, body)
        outcome = await self.lifecycle.record_result(
            job_id,
            AnalysisResult(
                run_id=body.analysis_id,
                idx=body.idx,
                status=status,
                idempotency_key=body.idempotency_key,
                error=body.error,
                masks=masks,
            ),
        )
        return AnalysisCallbackOutcome(
            processed=outcome.processed,
            duplicate=outcome.duplicate,
            analysis_status=outcome.analysis_status,
        )

    async def _checked_masks(
        self, job_id: str, body: AnalysisCallback
    ) -> tuple[StoredMaskRecord, ...]:
        """The maps a `done` result reports, once their keys, summaries and objects check out.

        A result that can no longer count (another run, a decided photo) is not checked: the
        transaction answers it as a duplicate.
        """
        async with self.database.read() as connection:
            job = await jobs_repository.find_job(connection, job_id)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            check_idx(job, body.idx)
            analysis = await repository.find_analysis(connection, job_id)
            analysed = {item.idx: item for item in await repository.find_items(connection, job_id)}
            items = {
                item.idx: item for item in await item_repository.find_items(connection, job_id)
            }
        current = analysed.get(body.idx)
        if (
            analysis is None
            or analysis.run_id != body.analysis_id
            or current is None
            or current.status is not AnalysisItemStatus.PENDING
        ):
            return ()
        records = _reported_masks(job, items[body.idx], current.requested, body)
        objects = [(record.mask_key, True) for record in records]
        objects += [
            (keys.instances_key(job.user_id, job.id, body.idx), False),
            (keys.overlay_key(job.user_id, job.id, body.idx), True),
        ]
        await check_objects(self.storage, objects, self.max_object_bytes)
        return tuple(records)


def _reported_masks(
    job: JobRecord, item: ItemRecord, requested: list[str], body: AnalysisCallback
) -> list[StoredMaskRecord]:
    """One record per requested concept, or 400 when the report does not fit the photo."""
    if body.width is None or body.height is None:
        raise refused("a done analysis needs width and height", field="width")
    reported = body.masks or {}
    summaries = body.instances or {}
    if set(reported) != set(requested) or not set(requested) <= set(summaries):
        raise refused(
            "masks and instances must cover exactly the concepts requested for this item",
            field="masks",
            concepts=requested,
        )
    expected_instances = keys.instances_key(job.user_id, job.id, item.idx)
    expected_overlay = keys.overlay_key(job.user_id, job.id, item.idx)
    if body.instances_key not in (None, expected_instances) or body.overlay_key not in (
        None,
        expected_overlay,
    ):
        raise refused(
            "instances_key/overlay_key are not this item's keys",
            expected_instances_key=expected_instances,
            expected_overlay_key=expected_overlay,
        )
    records = []
    for concept in requested:
        expected = keys.label_map_key(job.user_id, job.id, item.idx, concept)
        if reported[concept] != expected:
            raise refused(
                "a mask key is not this item's key for its concept",
                field="masks",
                concept=concept,
                expected_key=expected,
            )
        check_summaries(concept, summaries[concept], body.width, body.height)
        records.append(
            StoredMaskRecord(
                input_key=item.input_key,
                concept=concept,
                job_id=job.id,
                idx=item.idx,
                mask_key=expected,
                instances_key=expected_instances,
                instances=[summary.model_dump() for summary in summaries[concept]],
                width=body.width,
                height=body.height,
            )
        )
    return records
