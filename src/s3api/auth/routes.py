"""`POST /auth/anon`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from s3api.auth.schemas import AnonSession, AnonSignIn
from s3api.auth.service import AuthService
from s3api.http.deps import service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.ratelimit.dependencies import SignupRateLimit

Auth = Annotated[AuthService, service_dependency("auth", AuthService)]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/anon",
    response_model=Envelope[AnonSession],
    responses=error_responses(400, 429),
    dependencies=[SignupRateLimit],
)
async def sign_in(
    request: Request, auth: Auth, body: Annotated[AnonSignIn | None, Body()] = None
) -> Response:
    """Sign in anonymously; the same `device_hash` always returns the same user."""
    payload = body or AnonSignIn()
    return ok(request, await auth.sign_in_anonymous(payload.device_hash))
