"""`POST /jobs/{id}/analyze` and its GPU-side callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from s3api.http.deps import GpuSecret, JobLogContext, service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.jobs.analysis.schemas import (
    AnalysisAnswer,
    AnalysisCallback,
    AnalysisCallbackOutcome,
    AnalyzeRequest,
)
from s3api.jobs.analysis.service import AnalysisService
from s3api.observability.log_context import bind_item
from s3api.ratelimit.dependencies import UserWriteRateLimit
from s3api.users.current import CurrentUser

Analyses = Annotated[AnalysisService, service_dependency("analyses", AnalysisService)]

router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    dependencies=[JobLogContext],
    responses=error_responses(400, 401),
)


@router.post(
    "/{job_id}/analyze",
    status_code=202,
    response_model=Envelope[AnalysisAnswer],
    responses={
        200: {"description": "Every photo and concept is already analysed: the stored state"},
        **error_responses(403, 404, 409, 429),
    },
    dependencies=[UserWriteRateLimit],
)
async def analyze(
    request: Request,
    analyses: Analyses,
    user: CurrentUser,
    job_id: str,
    payload: Annotated[AnalyzeRequest, Body()],
) -> Response:
    """Segment an uploaded job's photos for these concepts; the job stays `uploaded`."""
    analyzed = await analyses.analyze(user.id, job_id, payload)
    return ok(request, analyzed.answer, status_code=analyzed.status_code)


@router.post(
    "/{job_id}/analysis/callback",
    response_model=Envelope[AnalysisCallbackOutcome],
    dependencies=[GpuSecret],
    responses=error_responses(404, 409),
)
async def callback(
    request: Request, analyses: Analyses, job_id: str, body: AnalysisCallback
) -> Response:
    """One photo's analysis from the GPU side (shared secret, not a user token)."""
    bind_item(job_id, body.idx)
    return ok(request, await analyses.record_callback(job_id, body))
