"""The database engine: SQLite connections open cleanly or fail cleanly, and PostgreSQL
health checks share one round trip."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from s3api.db.engine import Database
from s3api.db.sqlite_inline import is_busy
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


async def _count(database: Database) -> int:
    async with database.read() as connection:
        return int((await connection.exec_driver_sql("SELECT count(*) FROM notes")).scalar_one())


async def test_sqlite_reads_on_kept_connections_see_every_commit(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "s3api.db"))
    try:
        async with database.transaction() as connection:
            await connection.exec_driver_sql("CREATE TABLE notes (body TEXT)")
        assert await _count(database) == 0
        async with database.read() as before:
            # this snapshot starts with its first read; a write and a second read follow
            await before.exec_driver_sql("SELECT count(*) FROM notes")
            async with database.transaction() as connection:
                await connection.exec_driver_sql("INSERT INTO notes VALUES ('a')")
            old = (await before.exec_driver_sql("SELECT count(*) FROM notes")).scalar_one()
            assert await _count(database) == 1
        assert old == 0
        assert await _count(database) == 1  # a kept connection holds no stale snapshot
    finally:
        await database.dispose()


async def test_a_failed_sqlite_read_leaves_its_connection_usable(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "s3api.db"))
    try:
        async with database.transaction() as connection:
            await connection.exec_driver_sql("CREATE TABLE notes (body TEXT)")
        for _ in range(3):
            with pytest.raises(OperationalError):
                async with database.read() as connection:
                    await connection.exec_driver_sql("SELECT missing FROM notes")
            assert await _count(database) == 0
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("code", "busy"),
    [
        (sqlite3.SQLITE_BUSY, True),
        (sqlite3.SQLITE_LOCKED, True),
        (261, True),  # SQLITE_BUSY_RECOVERY: another connection recovers a fresh WAL
        (sqlite3.SQLITE_ERROR, False),
        (sqlite3.SQLITE_READONLY, False),
    ],
)
def test_extended_busy_codes_wait_for_the_lock(code: int, busy: bool) -> None:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code
    assert is_busy(error) is busy
