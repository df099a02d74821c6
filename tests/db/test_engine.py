"""The database engine: SQLite connections open cleanly or fail cleanly, and PostgreSQL
health checks share one round trip."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from s3api.db.engine import Database
from tests.support.foundation import sqlite_url


async def test_a_missing_sqlite_directory_fails_every_connect(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "missing" / "directory" / "s3api.db"))
    try:
        for _ in range(5):
            with pytest.raises(OperationalError):
                await database.ping()
    finally:
        await database.dispose()


async def test_a_working_sqlite_database_still_connects(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "s3api.db"))
    try:
        await database.ping()
        async with database.read() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        assert mode == "wal"
    finally:
        await database.dispose()


async def test_concurrent_postgres_health_checks_share_one_ping(postgres_url: str) -> None:
    database = Database(postgres_url)
    statements: list[str] = []
    try:

        @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
        def _record(*args: object) -> None:
            statements.append(str(args[2]))

        await asyncio.gather(*(database.ping() for _ in range(10)))
    finally:
        await database.dispose()
    assert statements.count("SELECT 1") == 1
