"""`GET /metrics`: Prometheus text exposition, optionally behind `METRICS_TOKEN`."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.http.deps import service_dependency
from s3api.observability.scrape import read_queue_depth, render_metrics
from s3api.queue.message_queue import MessageQueue

DatabaseDep = Annotated[Database, service_dependency("database", Database)]
QueueDep = Annotated[MessageQueue, service_dependency("queue", MessageQueue)]
MetricsToken = Annotated[str | None, service_dependency("metrics_token", str)]

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(
    database: DatabaseDep,
    queue: QueueDep,
    metrics_token: MetricsToken,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Request, job, credit, queue and worker metrics for Prometheus."""
    _require_metrics_token(metrics_token, authorization)
    async with database.read() as connection:
        depth = await read_queue_depth(
            connection, queue.name, queue.clock_ms(), queue.max_deliveries
        )
    body = await asyncio.to_thread(render_metrics, queue.name, depth)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _require_metrics_token(expected: str | None, authorization: str | None) -> None:
    """No token configured: open. Otherwise `Authorization: Bearer <METRICS_TOKEN>`."""
    if not expected:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(ErrorCode.AUTH_REQUIRED, "Authorization: Bearer <METRICS_TOKEN> is required")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
