"""Jobs endpoints 9–15."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from s3api.http.deps import GpuSecret, JobLogContext, service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.jobs.idempotency import MAX_IDEMPOTENCY_KEY_LENGTH, Answer, IdempotentCall
from s3api.jobs.live import JobStreamService, OpenedStream, StreamEvent, parse_last_event_id
from s3api.jobs.schemas import (
    CallbackBody,
    CallbackOutcome,
    JobCanceled,
    JobCreate,
    JobCreated,
    JobDeleted,
    JobEnvelope,
    JobExecute,
    JobQueued,
    JobRerun,
    JobRerunQueued,
    JobSummary,
    UploadConfirmed,
)
from s3api.jobs.service import JobsService
from s3api.jobs.states import JobStatus
from s3api.observability.log_context import bind_item
from s3api.ratelimit.dependencies import UserWriteRateLimit
from s3api.users.current import CurrentUser, StreamUser

Jobs = Annotated[JobsService, service_dependency("jobs", JobsService)]
Streams = Annotated[JobStreamService, service_dependency("job_streams", JobStreamService)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key and body within 24 h replay the first answer.",
    ),
]

router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    dependencies=[JobLogContext],
    responses=error_responses(400, 401),
)


async def _idempotent_call(request: Request, key: str | None) -> IdempotentCall | None:
    if key is None:
        return None
    return IdempotentCall.of(key, request.method, request.url.path, await request.body())


def _answered(request: Request, answer: Answer) -> Response:
    """The envelope of a create's answer; a replay says so in `Idempotent-Replayed`."""
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return ok(request, answer.data, status_code=answer.status_code, headers=headers)


@router.get("", response_model=Envelope[list[JobSummary]])
async def list_(
    request: Request,
    jobs: Jobs,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The caller's jobs, newest first; `meta.next_cursor` when more exist."""
    page, next_cursor = await jobs.list_jobs(user.id, limit, cursor)
    if next_cursor is None:
        return ok(request, page)  # the last page carries no `next_cursor` key at all
    return ok(request, page, next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[JobCreated],
    responses=error_responses(402, 403, 422, 429),
    dependencies=[UserWriteRateLimit],
)
async def create(
    request: Request,
    jobs: Jobs,
    user: CurrentUser,
    payload: JobCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a job: reserves credits and a slot, returns one upload URL per item."""
    call = await _idempotent_call(request, idempotency_key)
    return _answered(request, await jobs.create_job(user.id, payload, call))


@router.post(
    "/{job_id}/confirm-upload",
    response_model=Envelope[UploadConfirmed],
    responses=error_responses(404, 409),
)
async def confirm_upload(request: Request, jobs: Jobs, user: CurrentUser, job_id: str) -> Response:
    """Verify the uploads and move the job to `uploaded`."""
    await jobs.confirm_upload(user.id, job_id)
    return ok(request, UploadConfirmed(confirmed=True, status=JobStatus.UPLOADED))


@router.post(
    "/{job_id}/execute",
    status_code=202,
    response_model=Envelope[JobQueued],
    responses=error_responses(403, 404, 409),
)
async def execute(
    request: Request,
    jobs: Jobs,
    user: CurrentUser,
    job_id: str,
    payload: Annotated[JobExecute, Body()],
) -> Response:
    """Queue the job for the GPU side with inline edits or a saved rule."""
    await jobs.execute_job(user.id, job_id, payload)
    return ok(request, JobQueued(queued=True, status=JobStatus.QUEUED), status_code=202)


@router.get("/{job_id}", response_model=Envelope[JobEnvelope], responses=error_responses(404))
async def get(request: Request, jobs: Jobs, user: CurrentUser, job_id: str) -> Response:
    """The job's live state with download URLs for done items."""
    return ok(request, JobEnvelope(job=await jobs.job_detail(user.id, job_id)))


@router.post(
    "/{job_id}/callback",
    response_model=Envelope[CallbackOutcome],
    dependencies=[GpuSecret],
    responses=error_responses(404, 409),
)
async def callback(request: Request, jobs: Jobs, job_id: str, body: CallbackBody) -> Response:
    """One item's result from the GPU side (shared secret, not a user token)."""
    bind_item(job_id, body.idx)
    return ok(request, await jobs.record_callback(job_id, body))


@router.post(
    "/{job_id}/cancel", response_model=Envelope[JobCanceled], responses=error_responses(404, 409)
)
async def cancel(request: Request, jobs: Jobs, user: CurrentUser, job_id: str) -> Response:
    """Cancel a job that has not finished and refund every item not done."""
    return ok(request, await jobs.cancel_job(user.id, job_id))


@router.post(
    "/{job_id}/rerun",
    status_code=202,
    response_model=Envelope[JobRerunQueued],
    responses=error_responses(402, 403, 404, 409, 410, 422, 429),
    dependencies=[UserWriteRateLimit],
)
async def rerun(
    request: Request,
    jobs: Jobs,
    user: CurrentUser,
    job_id: str,
    payload: JobRerun,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Queue a new job over a done or failed job's inputs, with other edits; no uploads."""
    call = await _idempotent_call(request, idempotency_key)
    return _answered(request, await jobs.rerun_job(user.id, job_id, payload, call))


@router.delete(
    "/{job_id}", response_model=Envelope[JobDeleted], responses=error_responses(404, 409, 503)
)
async def delete(request: Request, jobs: Jobs, user: CurrentUser, job_id: str) -> Response:
    """Delete a finished job with its results, previews and the inputs no other job reads."""
    return ok(request, await jobs.delete_job(user.id, job_id))


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The job's live events"},
        204: {"description": "Resumed at or after the job's `end`: nothing more to send"},
        **error_responses(404, 429),
    },
)
async def events(
    streams: Streams,
    user: StreamUser,
    job_id: str,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    """Server-sent events: `snapshot`, then `item`, `status` and a closing `end`.

    `?access_token=` stands in for the Authorization header (browser `EventSource`);
    `Last-Event-ID` resumes after that event.
    """
    stream = await streams.open_stream(user.id, job_id, parse_last_event_id(last_event_id))
    if stream is None:
        return Response(status_code=204)
    return _JobEventResponse(
        stream,
        _server_sent(stream.events),
        ping=streams.ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _JobEventResponse(EventSourceResponse):
    """Releases the stream's slot however the response ends, even before its first event."""

    def __init__(self, stream: OpenedStream, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.release()


async def _server_sent(stream: AsyncIterator[StreamEvent]) -> AsyncIterator[ServerSentEvent]:
    async for event in stream:
        yield ServerSentEvent(data=json.dumps(event.data), event=event.event, id=str(event.id))
