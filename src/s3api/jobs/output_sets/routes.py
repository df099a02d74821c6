"""`POST /jobs/{id}/output-set/callback`: the GPU side's answer for a job's output set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from s3api.http.deps import GpuSecret, JobLogContext, service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.jobs.output_sets.schemas import OutputSetCallback, OutputSetCallbackOutcome
from s3api.jobs.output_sets.service import OutputSetService

OutputSets = Annotated[OutputSetService, service_dependency("output_sets", OutputSetService)]

router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    dependencies=[JobLogContext],
    responses=error_responses(400, 401),
)


@router.post(
    "/{job_id}/output-set/callback",
    response_model=Envelope[OutputSetCallbackOutcome],
    dependencies=[GpuSecret],
    responses=error_responses(404, 409),
)
async def callback(
    request: Request, output_sets: OutputSets, job_id: str, body: OutputSetCallback
) -> Response:
    """The set's files are stored, or why it could not be assembled (shared secret)."""
    return ok(request, await output_sets.record_callback(job_id, body))
