"""`GET /me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from s3api.account.schemas import AccountState
from s3api.account.service import AccountService
from s3api.errors import ApiError, ErrorCode
from s3api.http.deps import service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.users.current import TokenUserId

Account = Annotated[AccountService, service_dependency("account", AccountService)]

router = APIRouter(tags=["users"], responses=error_responses(401))


@router.get("/me", response_model=Envelope[AccountState])
async def me(request: Request, account: Account, user_id: TokenUserId) -> Envelope[AccountState]:
    """The caller's plan, credits and slots in use; the token check and the state are one
    read."""
    state = await account.account_state_of(user_id)
    if state is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    return ok(request, state)
