"""Shared fixtures: real apps on real databases (a fresh SQLite file, or a throwaway
PostgreSQL database truncated between tests), driven through the ASGI stack."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.settings import Settings
from tests.support.databases import (
    BACKENDS,
    POSTGRES_ADMIN_DSN,
    TEST_CALLBACK_SECRET,
    application_context,
    make_settings,
    postgres_admin,
    truncate_postgres,
)
from tests.support.factories import ApiClient


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once, dropped at the end."""
    name = f"s3api_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
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
    asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
        await truncate_postgres(empty_database_url)
        return empty_database_url
    database = Database(empty_database_url)
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()
    return empty_database_url


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


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app through the real ASGI stack."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient, app: FastAPI) -> ApiClient:
    """Helpers for common API calls on top of `http`, storing results in the app's store."""
    return ApiClient(http, TEST_CALLBACK_SECRET, application_context(app).storage)


@pytest.fixture
def context(app: FastAPI) -> AppContext:
    """The app's context, for assertions straight on the database."""
    return application_context(app)


@pytest.fixture(scope="session")
def tiny_sam3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAM 3 with random weights and a self-written tokenizer, saved like a download."""
    pytest.importorskip("transformers", reason="the sam3 extra is not installed")
    from s3api.worker.engine.sam3_random import save_random_sam3

    return save_random_sam3(tmp_path_factory.mktemp("sam3") / "tiny")
