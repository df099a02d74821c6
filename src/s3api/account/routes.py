"""`GET /me`, `DELETE /me` and the caller's webhook signing secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from s3api.account.schemas import AccountDeleted, AccountState, WebhookSecretPublic
from s3api.account.service import AccountService
from s3api.errors import ApiError, ErrorCode
from s3api.http.deps import service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.users.current import CurrentUser, TokenUserId
from s3api.webhooks.secrets import WebhookSecretService

Account = Annotated[AccountService, service_dependency("account", AccountService)]
WebhookSecrets = Annotated[
    WebhookSecretService, service_dependency("webhook_secrets", WebhookSecretService)
]

router = APIRouter(tags=["users"], responses=error_responses(401))


@router.get("/me", response_model=Envelope[AccountState])
async def me(request: Request, account: Account, user_id: TokenUserId) -> Response:
    """The caller's plan, credits and slots in use; the token check and the state are one
    read."""
    state = await account.account_state_of(user_id)
    if state is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    return ok(request, state)


@router.delete("/me", response_model=Envelope[AccountDeleted], responses=error_responses(503))
async def delete_me(request: Request, account: Account, user: CurrentUser) -> Response:
    """Delete the account: active jobs are canceled and refunded, every job's objects, every
    rule and the user are deleted, and the caller's tokens stop working at once."""
    return ok(request, await account.delete_account(user.id))


@router.get("/me/webhook-secret", response_model=Envelope[WebhookSecretPublic])
async def webhook_secret(request: Request, secrets: WebhookSecrets, user: CurrentUser) -> Response:
    """The secret that signs the caller's webhooks (made on first use)."""
    return ok(request, WebhookSecretPublic(secret=await secrets.secret_for(user.id)))


@router.post("/me/webhook-secret/rotate", response_model=Envelope[WebhookSecretPublic])
async def rotate_webhook_secret(
    request: Request, secrets: WebhookSecrets, user: CurrentUser
) -> Response:
    """Replace the signing secret; later deliveries use the new one."""
    return ok(request, WebhookSecretPublic(secret=await secrets.rotate(user.id)))
