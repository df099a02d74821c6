"""Shared fixtures: real apps on real databases (a fresh SQLite file, or a throwaway
PostgreSQL database truncated between tests), driven through the ASGI stack."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import Base
from s3api.settings import Settings
from tests.factories import ApiClient

POSTGRES_ADMIN_DSN = os.environ.get(
    "S3API_TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
TEST_CALLBACK_SECRET = "test-callback-secret-long-enough-0123456789"
TEST_DEVICE_HASH_SECRET = "test-device-hash-secret-long-enough-0123456789"
BACKENDS = ["sqlite", "postgres"]
TEST_GENEROUS_RATE = "100000/minute"


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once, dropped at the end."""
    name = f"s3api_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_DSN} ({type(exc).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: the PostgreSQL suite is required in CI")
        pytest.skip(f"{message}: skipping the PostgreSQL suite")
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"

    async def _migrate() -> None:
        database = Database(url)
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    asyncio.run(_migrate())
    yield url
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_postgres(url: str) -> None:
    database = Database(url)
    try:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with database.transaction() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await database.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on; every database-facing test runs on both."""
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the current backend's test database lives (resolved outside any event loop)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database_url(backend: str, empty_database_url: str) -> str:
    """A migrated, empty database of the current backend."""
    if backend == "postgres":
        await _truncate_postgres(empty_database_url)
        return empty_database_url
    database = Database(empty_database_url)
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()
    return empty_database_url


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: explicit secrets, no background loop, no embedded worker."""
    values: dict[str, Any] = {
        "s3api_data_dir": data_dir,
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "gpu_callback_secret": TEST_CALLBACK_SECRET,
        "device_hash_secret": TEST_DEVICE_HASH_SECRET,
        "public_base_url": "http://testserver",
        "run_background": False,
        "embedded_worker": False,
        # generous budgets: the rate-limit tests set their own
        "anon_signup_rate": TEST_GENEROUS_RATE,
        "user_write_rate": TEST_GENEROUS_RATE,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings on the current backend."""
    return make_settings(tmp_path / "data", database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A fully configured app on the current backend (lifespan not run: no background)."""
    application = create_app(settings, migrate=False)
    yield application
    await application_context(application).close()


def application_context(application: FastAPI) -> AppContext:
    """The context an app was built with."""
    context: AppContext = application.state.context
    return context


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app through the real ASGI stack."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> ApiClient:
    """Helpers for common API calls on top of `http`."""
    return ApiClient(http, TEST_CALLBACK_SECRET)


@pytest.fixture
def context(app: FastAPI) -> AppContext:
    """The app's context, for assertions straight on the database."""
    return application_context(app)
