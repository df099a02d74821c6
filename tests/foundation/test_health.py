"""`GET /health` and what every route answers when the database is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from tests.support.databases import make_settings
from tests.support.foundation import (
    assert_error,
    assert_ok,
    assert_timestamp,
    client_for,
    sqlite_url,
)

UNREACHABLE_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/nope"


async def test_health_is_200_healthy_with_a_timestamp(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "health.db")
    database = Database(url)
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()
    async with client_for(make_settings(tmp_path, url)) as (_app, client):
        data = assert_ok(await client.get("/health"))
    assert data["status"] == "healthy"
    assert_timestamp(data["timestamp"])


async def test_health_needs_no_authorization(tmp_path: Path) -> None:
    async with client_for(make_settings(tmp_path, sqlite_url(tmp_path / "h.db"))) as (_, client):
        response = await client.get("/health", headers={"Authorization": "Bearer junk"})
    assert assert_ok(response)["status"] == "healthy"


@pytest.fixture(
    params=["postgres-closed-port", "sqlite-missing-directory"],
)
async def unreachable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose database cannot be reached."""
    if request.param == "postgres-closed-port":
        url = UNREACHABLE_POSTGRES
    else:
        url = sqlite_url(tmp_path / "does" / "not" / "exist" / "s3api.db")
    async with client_for(make_settings(tmp_path / "data", url)) as (_app, client):
        yield client


async def test_health_is_503_unavailable_when_the_database_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    error = assert_error(await unreachable.get("/health"), 503, "UNAVAILABLE")
    assert "127.0.0.1:1" not in error["message"]
    assert "does/not/exist" not in error["message"]


async def test_sign_in_is_503_unavailable_when_the_database_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    response = await unreachable.post("/auth/anon", json={"device_hash": "d" * 16})
    error = assert_error(response, 503, "UNAVAILABLE")
    assert "Traceback" not in error["message"]
