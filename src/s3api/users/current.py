"""The authenticated caller, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.observability.log_context import bind_user_id
from s3api.security.tokens import TokenIssuer
from s3api.users.repository import UserRecord, fetch_user


async def get_token_user_id(request: Request) -> str:
    """The user id a valid Bearer token names; whether that user still exists is for the
    caller to check (a route that reads the user row anyway checks it there, in one read).
    Async, though it awaits nothing: FastAPI would run a plain `def` in a worker thread. The
    header is read from the request, not declared as a parameter: FastAPI would validate it
    on every request, and it stays out of the OpenAPI parameters either way."""
    return _user_id_of_header(request, request.headers.get("authorization"))


def _user_id_of_header(request: Request, authorization: str | None) -> str:
    if not authorization:
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.AUTH_REQUIRED)
    user_id = _verified_user_id(request, token.strip())
    bind_user_id(user_id)
    return user_id


async def get_current_user(request: Request) -> UserRecord:
    """The user of the Bearer token; its plan and credits are read from the database on every
    request, in one indexed read, so a deleted user's token is refused at once. (One
    dependency, not two: each level costs FastAPI a resolution per request.)"""
    return await _existing_user(request, await get_token_user_id(request))


async def get_stream_user(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    access_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> UserRecord:
    """As `get_current_user`, or `?access_token=` for a browser `EventSource` (no headers)."""
    if authorization or not access_token:
        return await _existing_user(request, _user_id_of_header(request, authorization))
    user_id = _verified_user_id(request, access_token.strip())
    bind_user_id(user_id)
    return await _existing_user(request, user_id)


def _verified_user_id(request: Request, token: str) -> str:
    tokens: TokenIssuer = request.app.state.tokens
    return tokens.verify(token)


async def _existing_user(request: Request, user_id: str) -> UserRecord:
    database: Database = request.app.state.database
    user = await fetch_user(database, user_id)
    if user is None:
        raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]
StreamUser = Annotated[UserRecord, Depends(get_stream_user)]
# only the token's user id: for routes that read the user row themselves
TokenUserId = Annotated[str, Depends(get_token_user_id)]
