"""Worker-facing pull consumer routes, like Cloudflare Queues' HTTP pull API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from s3api.delivery.schemas import AckRequest, AckResult, DeadLetterList, PullRequest, PullResult
from s3api.delivery.service import DeliveryService
from s3api.http.deps import GpuSecret, service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.http.middleware import log_access_at_debug

Delivery = Annotated[DeliveryService, service_dependency("delivery", DeliveryService)]

router = APIRouter(
    prefix="/queues/gpu-jobs",
    tags=["queue"],
    dependencies=[GpuSecret],
    responses=error_responses(400, 401),
)


@router.post("/pull", response_model=Envelope[PullResult])
async def pull(
    request: Request, delivery: Delivery, payload: Annotated[PullRequest | None, Body()] = None
) -> Response:
    """Lease up to `batch_size` messages; an empty queue answers at once."""
    options = payload or PullRequest()
    messages = await delivery.pull_messages(options.batch_size, options.visibility_timeout_seconds)
    if not messages:
        log_access_at_debug(request)  # an idle worker polls every few seconds
    return ok(request, PullResult(messages=messages))


@router.post("/ack", response_model=Envelope[AckResult])
async def ack(
    request: Request, delivery: Delivery, payload: Annotated[AckRequest | None, Body()] = None
) -> Response:
    """Acknowledge or retry leased messages; expired leases are ignored."""
    body = payload or AckRequest()
    result = await delivery.acknowledge_and_retry(
        [item.lease_id for item in body.acks], body.retries
    )
    return ok(request, result)


@router.get("/dlq", response_model=Envelope[DeadLetterList])
async def dead_letters(
    request: Request, delivery: Delivery, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> Response:
    """Dead-lettered messages with their last error, newest first."""
    return ok(request, await delivery.list_dead_letters(limit))
