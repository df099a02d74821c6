"""The authenticated caller, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.security.tokens import TokenIssuer
from s3api.users.repository import UserRecord, fetch_user


async def get_token_user_id(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """The user id a valid Bearer token names; whether that user still exists is for the
    caller to check (a route that reads the user row anyway checks it there, in one read).
    Async, though it awaits nothing: FastAPI would run a plain `def` in a worker thread."""
    if not authorization:
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    tokens: TokenIssuer = request.app.state.tokens
    return tokens.verify(token.strip())


async def get_current_user(
    request: Request, user_id: Annotated[str, Depends(get_token_user_id)]
) -> UserRecord:
    """The user of the Bearer token; its plan and credits are read from the database on every
    request, in one indexed read, so a deleted user's token is refused at once."""
    database: Database = request.app.state.database
    user = await fetch_user(database, user_id)
    if user is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]
# only the token's user id: for routes that read the user row themselves
TokenUserId = Annotated[str, Depends(get_token_user_id)]
