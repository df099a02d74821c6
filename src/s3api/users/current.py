"""The authenticated caller, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.observability.log_context import bind_user_id
from s3api.security.tokens import TokenIssuer
from s3api.users.repository import UserRecord, find_user


async def get_current_user(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> UserRecord:
    """The user of the Bearer token; its plan is read from the database on every request."""
    if not authorization:
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    tokens: TokenIssuer = request.app.state.tokens
    database: Database = request.app.state.database
    user_id = tokens.verify(token.strip())
    async with database.read() as connection:
        user = await find_user(connection, user_id)
    if user is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    bind_user_id(user.id)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]
