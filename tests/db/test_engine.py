"""The database engine leaves no driver thread running once a call has returned."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from s3api.db.engine import Database
from tests.support.foundation import sqlite_url


def _sqlite_worker_threads() -> set[threading.Thread]:
    return {
        thread
        for thread in threading.enumerate()
        if "_connection_worker_thread" in thread.name and thread.is_alive()
    }


async def test_a_failed_sqlite_connect_has_stopped_its_worker_thread(tmp_path: Path) -> None:
    # aiosqlite's worker thread of a failed connect later resolves a future on this loop;
    # were it still running when a test's loop closes it dies with "Event loop is closed"
    before = _sqlite_worker_threads()
    database = Database(sqlite_url(tmp_path / "missing" / "directory" / "s3api.db"))
    try:
        for _ in range(5):
            with pytest.raises(OperationalError):
                await database.ping()
            assert _sqlite_worker_threads() - before == set()
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
