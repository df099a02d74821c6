"""`GET /health`."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.timeutil import Timestamp, utcnow

router = APIRouter(tags=["health"])
logger = logging.getLogger("s3api.health")


class Health(BaseModel):
    """The service is up and its database answers."""

    status: str
    timestamp: Timestamp


@router.get("/health", response_model=Envelope[Health], responses=error_responses(503))
async def health(request: Request) -> Response:
    """200 when the database answers, 503 `UNAVAILABLE` otherwise. (The database is taken
    from the app state here, not through a dependency: this is the most-polled route.)"""
    database: Database = request.app.state.database
    try:
        await database.ping()
    except Exception as exc:
        logger.warning("health check: database unreachable (%s)", type(exc).__name__)
        raise ApiError(ErrorCode.UNAVAILABLE, "Database unavailable") from exc
    return ok(request, Health(status="healthy", timestamp=utcnow()))
