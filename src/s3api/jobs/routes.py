"""Jobs endpoints 9–15."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from s3api.http.deps import Context, CurrentUser, GpuSecret
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.http.rate_limits import UserWriteRateLimit
from s3api.jobs import service as jobs_service
from s3api.jobs.schemas import (
    CallbackBody,
    CallbackOutcome,
    JobCanceled,
    JobCreate,
    JobCreated,
    JobEnvelope,
    JobExecute,
    JobQueued,
    JobSummary,
    UploadConfirmed,
)
from s3api.jobs.states import JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=error_responses(400, 401))


@router.get("", response_model=Envelope[list[JobSummary]])
async def list_(
    request: Request,
    context: Context,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[list[JobSummary]]:
    """The caller's jobs, newest first; `meta.next_cursor` when more exist."""
    jobs, next_cursor = await jobs_service.list_jobs(context, user, limit, cursor)
    return ok(request, jobs, next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[JobCreated],
    responses=error_responses(402, 403, 429),
    dependencies=[UserWriteRateLimit],
)
async def create(
    request: Request, context: Context, user: CurrentUser, payload: JobCreate
) -> Envelope[JobCreated]:
    """Create a job: reserves credits and a slot, returns one upload URL per item."""
    return ok(request, await jobs_service.create_job(context, user, payload))


@router.post(
    "/{job_id}/confirm-upload",
    response_model=Envelope[UploadConfirmed],
    responses=error_responses(404, 409),
)
async def confirm_upload(
    request: Request, context: Context, user: CurrentUser, job_id: str
) -> Envelope[UploadConfirmed]:
    """Verify the uploads and move the job to `uploaded`."""
    await jobs_service.confirm_upload(context, user, job_id)
    return ok(request, UploadConfirmed(confirmed=True, status=JobStatus.UPLOADED.value))


@router.post(
    "/{job_id}/execute",
    status_code=202,
    response_model=Envelope[JobQueued],
    responses=error_responses(404, 409),
)
async def execute(
    request: Request,
    context: Context,
    user: CurrentUser,
    job_id: str,
    payload: Annotated[JobExecute, Body()],
) -> Envelope[JobQueued]:
    """Queue the job for the GPU side with inline edits or a saved rule."""
    await jobs_service.execute_job(context, user, job_id, payload)
    return ok(request, JobQueued(queued=True, status=JobStatus.QUEUED.value))


@router.get("/{job_id}", response_model=Envelope[JobEnvelope], responses=error_responses(404))
async def get(
    request: Request, context: Context, user: CurrentUser, job_id: str
) -> Envelope[JobEnvelope]:
    """The job's live state with download URLs for done items."""
    return ok(request, JobEnvelope(job=await jobs_service.job_detail(context, user, job_id)))


@router.post(
    "/{job_id}/callback",
    response_model=Envelope[CallbackOutcome],
    dependencies=[GpuSecret],
    responses=error_responses(404, 409),
)
async def callback(
    request: Request, context: Context, job_id: str, body: CallbackBody
) -> Envelope[CallbackOutcome]:
    """One item's result from the GPU side (shared secret, not a user token)."""
    return ok(request, await jobs_service.record_callback(context, job_id, body))


@router.post(
    "/{job_id}/cancel", response_model=Envelope[JobCanceled], responses=error_responses(404, 409)
)
async def cancel(
    request: Request, context: Context, user: CurrentUser, job_id: str
) -> Envelope[JobCanceled]:
    """Cancel a job that has not finished and refund every item not done."""
    return ok(request, await jobs_service.cancel_job(context, user, job_id))
