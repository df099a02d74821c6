"""The authenticated caller, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

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
    return await _user_of_token(request, token.strip())


async def get_stream_user(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    access_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> UserRecord:
    """As `get_current_user`, or `?access_token=` for a browser `EventSource` (no headers)."""
    if authorization or not access_token:
        return await get_current_user(request, authorization)
    return await _user_of_token(request, access_token.strip())


async def _user_of_token(request: Request, token: str) -> UserRecord:
    tokens: TokenIssuer = request.app.state.tokens
    database: Database = request.app.state.database
    user_id = tokens.verify(token)
    async with database.read() as connection:
        user = await find_user(connection, user_id)
    if user is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    bind_user_id(user.id)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]
StreamUser = Annotated[UserRecord, Depends(get_stream_user)]
