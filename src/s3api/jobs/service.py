"""Jobs use cases: thin orchestration around the JobLifecycle, storage and presets."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.limits import MAX_ITEMS_PER_JOB
from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.ids import is_uuid
from s3api.jobs import item_repository, repository, webhook_subscriptions
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.reports import checked_segmentation
from s3api.jobs.analysis.repository import StoredMaskRecord
from s3api.jobs.analysis.selection import checked_selection
from s3api.jobs.analysis.views import load_analysis, signed_analysis
from s3api.jobs.creation import JobCreatedHook, Reply, Rerun
from s3api.jobs.edit_plan import plan_edits
from s3api.jobs.execution_plan import ExecutionPlan
from s3api.jobs.idempotency import Answer, IdempotentCall
from s3api.jobs.item_results import ItemResult
from s3api.jobs.lifecycle import JobLifecycle
from s3api.jobs.messages import gpu_message_builder
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.views import load_output_set, signed_output_set
from s3api.jobs.plan_outputs import PlanOutputs
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.jobs.schemas import (
    CallbackBody,
    CallbackOutcome,
    DownloadUrl,
    ItemState,
    JobCanceled,
    JobCreate,
    JobCreated,
    JobDeleted,
    JobDetail,
    JobExecute,
    JobRerun,
    JobRerunQueued,
    JobSummary,
    Progress,
    UploadUrl,
    WebhookState,
)
from s3api.jobs.states import ItemStatus, JobStatus
from s3api.jobs.webhook_subscriptions import WebhookEvent, WebhookSubscription
from s3api.presets.catalog import find_preset
from s3api.security.outbound_urls import checked_webhook_url
from s3api.settings import Settings
from s3api.storage.base import ObjectStorage
from s3api.storage.keys import ObjectKeys
from s3api.storage.sniff import SNIFF_BYTES, detect_image_type
from s3api.timeutil import utcnow

_STORAGE_PARALLELISM = 16


# up to 200 items a job: one validation call in pydantic-core beats a model per item in Python
_ITEM_STATES = TypeAdapter(list[ItemState])


def _progress(job: JobRecord) -> Progress:
    return Progress(done=job.done_items, failed=job.failed_items, total=job.total_items)


def _encode_cursor(job: JobRecord) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, job_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created_at).astimezone(UTC)
        if not is_uuid(job_id):
            raise ValueError("cursor job id is not a UUID")
        return moment, job_id
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(ErrorCode.VALIDATION_FAILED, "Invalid cursor", {"field": "cursor"}) from exc


def _checked_item_count(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema counts 3.0 as an integer
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ITEMS_PER_JOB:
        raise ApiError(ErrorCode.INVALID_ITEM_COUNT)
    return value


def _checked_webhook_events(value: object) -> list[WebhookEvent]:
    """A non-empty subset of the webhook events; `["job.completed"]` when not given."""
    if value is None:
        return [WebhookEvent.JOB_COMPLETED]
    allowed = [event.value for event in WebhookEvent]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(name, str) and name in allowed for name in value)
    ):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            f"webhook_events must be a non-empty subset of {allowed}",
            {"field": "webhook_events", "allowed": allowed},
        )
    return [event for event in WebhookEvent if event.value in value]


def _webhook_state(webhook: WebhookSubscription) -> WebhookState:
    return WebhookState(
        url=webhook.url,
        events=[event.value for event in webhook.events],
        last_status=None if webhook.last_status is None else webhook.last_status.value,
        last_attempt_at=webhook.last_attempt_at,
        last_response_code=webhook.last_response_code,
        last_error=webhook.last_error,
        attempts=webhook.attempts,
    )


class JobsService:
    """Endpoints 9–15: each call validates, then makes one lifecycle transition."""

    def __init__(
        self,
        database: Database,
        lifecycle: JobLifecycle,
        storage: ObjectStorage,
        settings: Settings,
    ) -> None:
        self.database = database
        self.lifecycle = lifecycle
        self.storage = storage
        self.presign_ttl_seconds = settings.presign_ttl_seconds
        self.upload_url_ttl_seconds = settings.upload_url_ttl_seconds
        self.max_upload_bytes = settings.max_upload_bytes
        self.max_result_bytes = settings.max_result_bytes
        self.public_base_url = settings.resolved_public_base_url
        self.is_production = settings.is_production
        self.build_message = gpu_message_builder(
            self.public_base_url, settings.queue_batch_concurrency
        )
        self.plan_outputs = PlanOutputs.from_settings(settings)

    async def list_jobs(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[JobSummary], str | None]:
        """A page of the caller's jobs, newest first, and the cursor of the next page."""
        after = _decode_cursor(cursor) if cursor else None
        async with self.database.read() as connection:
            jobs = await repository.list_jobs_page(connection, user_id, limit + 1, after)
        page = jobs[:limit]
        next_cursor = _encode_cursor(page[-1]) if len(jobs) > limit else None
        summaries = [
            JobSummary(
                job_id=job.id,
                status=job.status,
                preset=job.preset,
                created_at=job.created_at,
                updated_at=job.updated_at,
                progress=_progress(job),
            )
            for job in page
        ]
        return summaries, next_cursor

    async def create_job(
        self, user_id: str, payload: JobCreate, call: IdempotentCall | None = None
    ) -> Answer:
        """Reserve and create the job with one signed upload URL per item, once per key."""
        remembered = await self._remembered(user_id, call)
        if remembered is not None:
            return remembered
        item_count = _checked_item_count(payload.item_count)
        if not isinstance(payload.preset, str):
            raise ApiError(ErrorCode.INVALID_PRESET, "preset must be a preset id")
        preset = find_preset(payload.preset)

        async def render(job: JobRecord) -> dict[str, Any]:
            created = await self._created(job)
            return created.model_dump(mode="json")

        reply = Reply(status_code=201, render=render, call=call)
        on_created = await self._webhook_of(payload)
        return await self.lifecycle.create_job_replying(
            user_id, preset.id, item_count, reply, on_created
        )

    async def rerun_job(
        self, user_id: str, job_id: str, payload: JobRerun, call: IdempotentCall | None = None
    ) -> Answer:
        """Queue a new job over a finished job's inputs with new edits, once per key."""
        # a retry replays even when the parent or its rule has gone since
        remembered = await self._remembered(user_id, call)
        if remembered is not None:
            return remembered
        parent = await self._owned_job(user_id, job_id)
        plan = await plan_edits(self.database, self.plan_outputs, user_id, parent, payload)
        plan = await self._with_segmentation(parent.id, plan, payload, payload.items == "failed")
        rerun = Rerun(
            parent_job_id=parent.id,
            plan=plan,
            only_failed=payload.items == "failed",
            build_message=self.build_message,
        )

        async def render(job: JobRecord) -> dict[str, Any]:
            queued = JobRerunQueued(
                job_id=job.id,
                status=job.status.value,
                parent_job_id=parent.id,
                item_count=job.total_items,
            )
            return queued.model_dump(mode="json")

        reply = Reply(status_code=202, render=render, call=call)
        return await self.lifecycle.rerun_job(user_id, rerun, reply)

    async def delete_job(self, user_id: str, job_id: str) -> JobDeleted:
        """Forget a finished job and remove its objects that no kept job reads."""
        await self.lifecycle.delete_job(user_id, job_id, self.storage.delete_many)
        return JobDeleted(deleted=True)

    async def _remembered(self, user_id: str, call: IdempotentCall | None) -> Answer | None:
        return None if call is None else await self.lifecycle.remembered_answer(user_id, call)

    async def _created(self, job: JobRecord) -> JobCreated:
        """The create answer: one pre-signed upload URL per item."""
        ttl = self.upload_url_ttl_seconds
        keys = [ObjectKeys.input(job.user_id, job.id, idx) for idx in range(job.total_items)]
        urls = await asyncio.gather(*(self.storage.presign_put(key, ttl) for key in keys))
        return JobCreated(
            job_id=job.id,
            status=job.status,
            presigned_urls=[
                UploadUrl(idx=idx, url=url, key=key)
                for idx, (key, url) in enumerate(zip(keys, urls, strict=True))
            ],
            confirm_url=f"{self.public_base_url}/jobs/{job.id}/confirm-upload",
            expires_at=utcnow() + timedelta(seconds=ttl),
        )

    async def confirm_upload(self, user_id: str, job_id: str) -> None:
        """Verify every input in storage, then move the job to `uploaded`."""
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id, user_id=user_id)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            if job.status is not JobStatus.CREATED:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    f"Job is {job.status.value}; uploads can only be confirmed while it is created",
                    {"status": job.status.value},
                )
            items = await item_repository.find_items(connection, job_id)
        gate = asyncio.Semaphore(_STORAGE_PARALLELISM)
        problems = await asyncio.gather(*(self._input_problem(item, gate) for item in items))
        missing = [item.idx for item, p in zip(items, problems, strict=True) if p == "missing"]
        invalid = [item.idx for item, p in zip(items, problems, strict=True) if p == "invalid"]
        if missing or invalid:
            raise ApiError(
                ErrorCode.UPLOAD_INCOMPLETE,
                "Some inputs are missing or are not JPEG, PNG or WebP images within the size limit",
                {"missing": missing, "invalid": invalid},
            )
        await self.lifecycle.confirm_upload(user_id, job_id)

    async def execute_job(self, user_id: str, job_id: str, payload: JobExecute) -> None:
        """Validate the edits, then queue the job and its GPU message atomically."""
        job = await self._owned_job(user_id, job_id)
        plan = await plan_edits(self.database, self.plan_outputs, user_id, job, payload)
        plan = await self._with_segmentation(job.id, plan, payload, only_failed=False)
        await self.lifecycle.queue_job(user_id, job_id, plan, self.build_message)

    async def edits_of(self, user_id: str, job_id: str, payload: JobExecute) -> ExecutionPlan:
        """The caller's job's edits as execute would validate them (for `analyze`)."""
        job = await self._owned_job(user_id, job_id)
        return await plan_edits(self.database, self.plan_outputs, user_id, job, payload)

    async def _with_segmentation(
        self, job_id: str, plan: ExecutionPlan, payload: JobExecute, only_failed: bool
    ) -> ExecutionPlan:
        """The plan with the stored label maps of the job's inputs and the checked instance
        selection (`idx` names the job's items; for a re-run, the parent's)."""
        async with self.database.read() as connection:
            items = await item_repository.find_items(connection, job_id)
            stored = await analysis_repository.find_masks(
                connection, [item.input_key for item in items]
            )
        if only_failed:
            items = [item for item in items if item.status is ItemStatus.FAILED]
        selection = checked_selection(
            payload.instances, {item.idx: item.input_key for item in items}, stored, plan.edited
        )
        return replace(plan, stored_masks=stored, selection=selection)

    async def job_detail(self, user_id: str, job_id: str) -> JobDetail:
        """The job with its items and fresh download URLs for the done ones."""
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id, user_id=user_id)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            items = await item_repository.find_items(connection, job_id)
            webhook = await webhook_subscriptions.find_subscription(connection, job_id)
            analysis = await load_analysis(connection, job, items)
            output_set = await load_output_set(connection, job_id)
        ttl = self.presign_ttl_seconds
        expired = job.expired_at is not None
        done = [] if expired else [item for item in items if item.status is ItemStatus.DONE]

        async def urls(item: ItemRecord) -> DownloadUrl:
            output_url, preview_url = await asyncio.gather(
                self.storage.presign_get(item.output_key, ttl),
                self.storage.presign_get(item.preview_key, ttl),
            )
            return DownloadUrl(idx=item.idx, output_url=output_url, preview_url=preview_url)

        return JobDetail(
            job_id=job.id,
            status=job.status,
            preset=job.preset,
            total_items=job.total_items,
            done_items=job.done_items,
            failed_items=job.failed_items,
            progress=_progress(job),
            items=_ITEM_STATES.validate_python(
                [{"idx": i.idx, "status": i.status, "error": i.error} for i in items]
            ),
            download_urls=list(await asyncio.gather(*(urls(item) for item in done))),
            refunded=job.refunded,
            parent_job_id=job.parent_job_id,
            output_format=job.output_format,
            expired=expired,
            created_at=job.created_at,
            updated_at=job.updated_at,
            webhook=None if webhook is None else _webhook_state(webhook),
            analysis=await signed_analysis(self.storage, analysis, ttl),
            output_set=await signed_output_set(self.storage, job, output_set, ttl),
        )

    async def record_callback(self, job_id: str, body: CallbackBody) -> CallbackOutcome:
        """Record one GPU result; duplicates and late results change nothing.

        A `done` result's objects are looked up in storage first, outside the transaction
        that holds the job's lock; the lifecycle refuses a new result whose objects are missing.
        """
        status = ItemStatus(body.status)
        unstored = (
            await self._unstored_results(job_id, body.idx) if status is ItemStatus.DONE else ()
        )
        segmented = await self._reported_segmentation(job_id, body)
        outcome = await self.lifecycle.record_item_result(
            job_id,
            ItemResult(
                idx=body.idx,
                status=status,
                idempotency_key=body.idempotency_key,
                output_key=body.output_key,
                preview_key=body.preview_key,
                error=body.error,
                unstored_objects=unstored,
            ),
        )
        if segmented and outcome.processed:
            async with self.database.transaction() as connection:
                await analysis_repository.insert_masks(
                    connection, segmented[0], segmented[1], utcnow()
                )
        return CallbackOutcome(
            processed=outcome.processed,
            duplicate=outcome.duplicate,
            job_status=outcome.job_status,
        )

    async def _reported_segmentation(
        self, job_id: str, body: CallbackBody
    ) -> tuple[str, list[StoredMaskRecord]] | None:
        """The owner and the label maps a done result says its edit stored, checked like an
        analysis's (keys of the item, objects present, PNG); None when it reports none."""
        if body.segmentation is None or body.status != ItemStatus.DONE.value:
            return None
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id)
            items = [] if job is None else await item_repository.find_items(connection, job_id)
        if job is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND)
        if not 0 <= body.idx < len(items):
            return None  # the result itself is refused with its own message
        records = await checked_segmentation(
            self.storage, job, items[body.idx], body.segmentation, self.max_result_bytes
        )
        return job.user_id, records

    async def cancel_job(self, user_id: str, job_id: str) -> JobCanceled:
        """Cancel and refund every item not done."""
        refunded = await self.lifecycle.cancel_job(user_id, job_id)
        return JobCanceled(canceled=True, status=JobStatus.CANCELED, refunded=refunded)

    async def _webhook_of(self, payload: JobCreate) -> JobCreatedHook | None:
        """The checked `webhook_url` and `webhook_events`, as a write for the job's transaction."""
        if payload.webhook_url is None:
            if payload.webhook_events is not None:
                raise ApiError(
                    ErrorCode.VALIDATION_FAILED,
                    "webhook_events needs a webhook_url",
                    {"field": "webhook_events"},
                )
            return None
        if not isinstance(payload.webhook_url, str):
            raise ApiError(
                ErrorCode.VALIDATION_FAILED, "webhook_url must be a URL", {"field": "webhook_url"}
            )
        url = await checked_webhook_url(payload.webhook_url, is_production=self.is_production)
        events = _checked_webhook_events(payload.webhook_events)

        async def subscribe(connection: AsyncConnection, job_id: str) -> None:
            await webhook_subscriptions.insert_subscription(connection, job_id, url, events)

        return subscribe

    async def _owned_job(self, user_id: str, job_id: str) -> JobRecord:
        async with self.database.read() as connection:
            job = await repository.find_job(connection, job_id, user_id=user_id)
        if job is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND)
        return job

    async def _unstored_results(self, job_id: str, idx: int) -> tuple[str, ...]:
        """The item's output, preview and variant keys that storage lacks, or holds empty
        or over `MAX_RESULT_BYTES`; none for an unknown job or item (the lifecycle refuses
        those)."""
        async with self.database.read() as connection:
            keys = await item_repository.result_keys_of_item(connection, job_id, idx)
            output_set = await sets_repository.find_set(connection, job_id)
        if keys is None:
            return ()
        listed = [] if output_set is None else output_set.variant_keys or []
        checked = [*keys, *(listed[idx] if 0 <= idx < len(listed) else [])]
        found = await asyncio.gather(*(self.storage.head(key) for key in checked))
        return tuple(
            key
            for key, info in zip(checked, found, strict=True)
            if info is None or not 0 < info.size <= self.max_result_bytes
        )

    async def _input_problem(self, item: ItemRecord, gate: asyncio.Semaphore) -> str | None:
        """`missing`, `invalid` or None for one uploaded input."""
        async with gate:
            info = await self.storage.head(item.input_key)
            if info is None:
                return "missing"
            if info.size == 0 or info.size > self.max_upload_bytes:
                return "invalid"
            head = await self.storage.read_head_bytes(item.input_key, SNIFF_BYTES)
            return None if detect_image_type(head) else "invalid"
