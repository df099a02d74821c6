"""Assertions and builders shared by the foundation tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.models import Base
from s3api.settings import Settings

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ENVELOPE_KEYS = {"success", "data", "error", "meta"}


def assert_timestamp(value: Any) -> None:
    """ISO 8601 in UTC with milliseconds and a `Z` suffix (API.md §1)."""
    assert isinstance(value, str), value
    assert TIMESTAMP.match(value), value


def assert_meta(response: httpx.Response) -> dict[str, Any]:
    """The body is an envelope whose `meta.request_id` is echoed in `X-Request-ID`."""
    body: dict[str, Any] = response.json()
    assert set(body) >= ENVELOPE_KEYS, body
    assert "detail" not in body, body
    meta = body["meta"]
    assert isinstance(meta["request_id"], str)
    assert meta["request_id"]
    assert response.headers.get("x-request-id") == meta["request_id"]
    assert_timestamp(meta["timestamp"])
    return body


def assert_ok(response: httpx.Response, status: int = 200) -> Any:
    """The success envelope with `status`; returns `data`."""
    assert response.status_code == status, response.text
    body = assert_meta(response)
    assert body["success"] is True
    assert body["error"] is None
    return body["data"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope with `status` and `code`; returns `error`."""
    assert response.status_code == status, response.text
    body = assert_meta(response)
    assert body["success"] is False
    assert body["data"] is None
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def rule_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /rules` body for the interior preset."""
    body: dict[str, Any] = {
        "name": "Oak floor",
        "preset_id": "interior",
        "concepts": {
            "Floor": {"action": "texture", "value": "oak_a"},
            "Wall": {"action": "recolor", "value": "#AABBCC"},
        },
        "protect": ["Grout"],
    }
    body.update(overrides)
    return body


async def count_rows(
    context: AppContext, table: type[Base], where: ColumnElement[bool] | None = None
) -> int:
    """How many rows of `table` (matching `where`) the database holds."""
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    async with context.database.read() as connection:
        return int((await connection.execute(query)).scalar_one())


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app built from `settings` (no migration, no lifespan) and a client over it."""
    application = create_app(settings, migrate=False)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client
    finally:
        context: AppContext = application.state.context
        await context.close()


def sqlite_url(path: Path) -> str:
    """An aiosqlite URL for a file."""
    return f"sqlite+aiosqlite:///{path}"
