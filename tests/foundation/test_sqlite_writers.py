"""SQLite: writers of one process queue on a lock, never in SQLite's busy handler; reads and
health checks take no write lock."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update

from s3api.db.engine import Database
from s3api.db.migrate import upgrade_to_head
from s3api.db.models import User
from tests.support.databases import make_settings
from tests.support.factories import ApiClient
from tests.support.foundation import assert_ok, client_for, sqlite_url

# generous: a read that waited for the writer would wait for as long as the test holds it
NO_WAIT_SECONDS = 5.0


async def _migrated(tmp_path: Path, busy_timeout_seconds: float = 30) -> Database:
    database = Database(
        sqlite_url(tmp_path / "writers.db"), busy_timeout_seconds=busy_timeout_seconds
    )
    await upgrade_to_head(database)
    return database


async def test_concurrent_writers_queue_without_the_busy_handler(tmp_path: Path) -> None:
    # with no busy timeout, a writer that met another's lock in SQLite would fail at once
    database = await _migrated(tmp_path, busy_timeout_seconds=0)
    async with client_for(make_settings(tmp_path / "data", database.url)) as (_app, client):
        user = await ApiClient(client, "unused").sign_in()
    try:

        async def add_one() -> None:
            async with database.transaction() as connection:
                credits = (
                    await connection.execute(select(User.credits).where(User.id == user.user_id))
                ).scalar_one()
                await asyncio.sleep(0)  # let the other writers try to begin meanwhile
                await connection.execute(
                    update(User).where(User.id == user.user_id).values(credits=credits + 1)
                )

        await asyncio.gather(*(add_one() for _ in range(20)))
        async with database.read() as connection:
            credits = (
                await connection.execute(select(User.credits).where(User.id == user.user_id))
            ).scalar_one()
        assert credits == 10 + 20
    finally:
        await database.dispose()


async def test_reads_and_pings_take_no_write_lock_while_a_writer_holds_it(tmp_path: Path) -> None:
    database = await _migrated(tmp_path)
    try:
        async with database.transaction():
            assert database.writer_lock().locked()
            await asyncio.wait_for(database.ping(), NO_WAIT_SECONDS)

            async def read_users() -> int:
                async with database.read() as connection:
                    return len((await connection.execute(select(User.id))).all())

            assert await asyncio.wait_for(read_users(), NO_WAIT_SECONDS) == 0
    finally:
        await database.dispose()


async def test_health_answers_while_a_writer_holds_the_database(tmp_path: Path) -> None:
    database = await _migrated(tmp_path)
    await database.dispose()
    async with client_for(make_settings(tmp_path / "data", database.url)) as (app, client):
        app_database: Database = app.state.database
        async with app_database.transaction():
            response = await asyncio.wait_for(client.get("/health"), NO_WAIT_SECONDS)
        assert assert_ok(response)["status"] == "healthy"


async def test_statements_run_on_the_event_loop_thread(tmp_path: Path) -> None:
    database = await _migrated(tmp_path)
    threads: list[int] = []
    try:

        @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
        def _record(*_args: object) -> None:
            threads.append(threading.get_ident())

        await database.ping()
        async with database.transaction() as connection:
            await connection.execute(select(User.id))
    finally:
        await database.dispose()
    assert threads
    assert set(threads) == {threading.get_ident()}


async def test_another_process_writer_is_awaited_off_the_loop(tmp_path: Path) -> None:
    # two engines stand for two processes: the second meets the first's lock in SQLite itself
    database = await _migrated(tmp_path)
    other_process = Database(database.url)
    try:
        began = asyncio.Event()

        # the waiting writer's connection: from here it runs on until `BEGIN IMMEDIATE` meets
        # the lock and its wait moves to a worker thread, before this test resumes
        @event.listens_for(database.engine.sync_engine, "engine_connect")
        def _connected(*_args: object) -> None:
            began.set()

        async with other_process.transaction() as holder:
            await holder.execute(update(User).values(credits=0))
            waiting = asyncio.create_task(_add_user_row(database))
            await began.wait()
            # the waiting writer sits on a worker thread: this loop still serves a read
            await asyncio.wait_for(database.ping(), NO_WAIT_SECONDS)
            assert not waiting.done()
        await asyncio.wait_for(waiting, NO_WAIT_SECONDS)
        async with database.read() as connection:
            assert len((await connection.execute(select(User.id))).all()) == 1
    finally:
        await other_process.dispose()
        await database.dispose()


async def _add_user_row(database: Database) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
                "VALUES ('u1', NULL, 'free', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )


async def test_a_failed_transaction_releases_the_writer_lock(tmp_path: Path) -> None:
    database = await _migrated(tmp_path)
    try:
        with pytest.raises(ValueError, match="refused"):
            async with database.transaction():
                raise ValueError("refused")
        assert not database.writer_lock().locked()
        async with database.transaction() as connection:
            await connection.execute(select(User.id))
    finally:
        await database.dispose()
