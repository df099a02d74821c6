"""`GET /me`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from s3api.http.deps import Context, CurrentUser
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.users import service as users_service
from s3api.users.schemas import AccountState

router = APIRouter(tags=["users"], responses=error_responses(401))


@router.get("/me", response_model=Envelope[AccountState])
async def me(request: Request, context: Context, user: CurrentUser) -> Envelope[AccountState]:
    """The caller's plan, credits and slots in use."""
    return ok(request, await users_service.account_state(context, user))
