"""Faster resets of the per-test database for this directory, same state as the shared ones.

The shared `database_url` migrates a new SQLite file and truncates PostgreSQL for every test;
here SQLite is copied from one file migrated once per session, and PostgreSQL rows are
deleted (cheaper than TRUNCATE on tables this small). Either way each test starts on a
migrated, empty database of its backend.

`boom_app` adds a route that crashes, for the 500 tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI

from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import Base

SQLITE_PREFIX = "sqlite+aiosqlite:///"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once for the whole session."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def _migrate() -> None:
        database = Database(f"{SQLITE_PREFIX}{path}")
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    asyncio.run(_migrate())
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    origin.close()
    copy.close()


async def _empty_postgres(url: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
        # table names come from our own metadata, never from input
        statements = [f"DELETE FROM {name}" for name in tables]  # noqa: S608
        await connection.execute("; ".join(statements))
    finally:
        await connection.close()


@pytest.fixture
def sqlite_source(backend: str, request: pytest.FixtureRequest) -> Path | None:
    """The migrated template for SQLite runs (resolved outside any event loop)."""
    if backend != "sqlite":
        return None
    template: Path = request.getfixturevalue("sqlite_template")
    return template


@pytest.fixture
async def database_url(empty_database_url: str, sqlite_source: Path | None) -> str:
    """A migrated, empty database of the current backend."""
    if sqlite_source is None:
        await _empty_postgres(empty_database_url)
    else:
        _copy_sqlite(sqlite_source, Path(empty_database_url.removeprefix(SQLITE_PREFIX)))
    return empty_database_url


async def _raise_unexpected() -> None:
    raise RuntimeError("secret-sql-detail")


@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    """The test app with one extra route that fails unexpectedly."""
    app.add_api_route("/boom", _raise_unexpected, methods=["GET"])
    return app
