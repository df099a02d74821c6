"""FastAPI dependencies: the app context and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from s3api.context import AppContext
from s3api.errors import ApiError, ErrorCode
from s3api.observability.log_context import bind_job_id, bind_user_id
from s3api.security.shared_secret import presented_secret, require_shared_secret
from s3api.users.repository import UserRecord, find_user


def get_context(request: Request) -> AppContext:
    """The context `create_app` stored on the application."""
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


async def get_current_user(
    context: Context,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> UserRecord:
    """The user of the Bearer token; its plan is read from the database on every request."""
    if not authorization:
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    user_id = context.tokens.verify(token.strip())
    async with context.database.read() as connection:
        user = await find_user(connection, user_id)
    if user is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    bind_user_id(user.id)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]


async def require_gpu_secret(
    context: Context,
    x_callback_secret: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """The GPU side's shared secret, from `X-Callback-Secret` or `Authorization: Bearer`."""
    require_shared_secret(
        context.settings.callback_secret, presented_secret(x_callback_secret, authorization)
    )


GpuSecret = Depends(require_gpu_secret)


async def bind_path_job_id(request: Request) -> None:
    """Log records of a request on `/jobs/{job_id}/…` carry its `job_id`."""
    bind_job_id(request.path_params.get("job_id"))


JobLogContext = Depends(bind_path_job_id)
