"""Statements run straight on the SQLite driver give what SQLAlchemy gives, and fall back to
it wherever they could not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from s3api.db.driver import execute
from s3api.db.engine import Database
from s3api.db.types import UtcDateTime
from tests.support.foundation import sqlite_url

NO_WAIT_SECONDS = 5.0
_METADATA = MetaData()
_THINGS = Table(
    "things",
    _METADATA,
    Column("id", String(36), primary_key=True),
    Column("payload", JSON, nullable=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("state", String(16), nullable=False, default="new"),
)
_INSERT = insert(_THINGS)
_INSERT_RETURNING = insert(_THINGS).returning(_THINGS.c.id, _THINGS.c.seen_at)
_FIND = select(_THINGS.c.id, _THINGS.c.payload, _THINGS.c.seen_at, _THINGS.c.count).where(
    _THINGS.c.id == bindparam("thing_id")
)
_ALL = select(_THINGS.c.id, _THINGS.c.count).order_by(_THINGS.c.id)
_MARK_OLD = (
    update(_THINGS)
    .where(_THINGS.c.count >= bindparam("at_least"))
    .values(state="old", count=_THINGS.c.count + 1)
)
_SOME = select(_THINGS.c.id).where(_THINGS.c.id.in_(bindparam("ids", expanding=True)))
SEEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _thing(identifier: str, count: int = 1) -> dict[str, Any]:
    return {
        "id": identifier,
        "payload": {"a": [1, 2]},
        "seen_at": SEEN,
        "count": count,
        "state": "new",
    }


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(tmp_path / "driver.db"))
    async with database.transaction() as connection:
        await connection.run_sync(_METADATA.create_all)
    try:
        yield database
    finally:
        await database.dispose()


def _statements_seen(database: Database) -> list[tuple[str, bool]]:
    """Each statement's SQL, and whether it came through the driver path (no context)."""
    seen: list[tuple[str, bool]] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _record(*args: Any) -> None:
        seen.append((str(args[2]), args[4] is None))

    return seen


async def test_rows_match_sqlalchemys_with_json_and_time_columns(database: Database) -> None:
    seen = _statements_seen(database)
    async with database.transaction() as connection:
        returned = (await execute(connection, _INSERT_RETURNING, _thing("a"))).all()
        driver_row = (await execute(connection, _FIND, {"thing_id": "a"})).one()
        library_row = (await connection.execute(_FIND, {"thing_id": "a"})).one()
    assert tuple(driver_row) == tuple(library_row) == ("a", {"a": [1, 2]}, SEEN, 1)
    assert driver_row.seen_at == SEEN  # by name, too
    assert driver_row.seen_at.tzinfo is not None
    assert [tuple(row) for row in returned] == [("a", SEEN)]
    assert [through_driver for _, through_driver in seen] == [True, True, False]


async def test_many_rows_row_counts_and_the_statements_own_values(database: Database) -> None:
    async with database.transaction() as connection:
        inserted = await execute(
            connection, _INSERT, [_thing(name, n) for n, name in enumerate("xyz")]
        )
        marked = await execute(connection, _MARK_OLD, {"at_least": 1})
        missing = await execute(connection, _FIND, {"thing_id": "nothing"})
    async with database.read() as connection:
        rows = (await execute(connection, _ALL)).all()
        states = (await connection.execute(select(_THINGS.c.state).order_by(_THINGS.c.id))).all()
    assert inserted.rowcount == 3
    assert marked.rowcount == 2
    assert missing.first() is None
    assert missing.scalar() is None
    assert [tuple(row) for row in rows] == [("x", 0), ("y", 2), ("z", 3)]
    assert [state for (state,) in states] == ["new", "old", "old"]


async def test_a_constraint_violation_raises_sqlalchemys_error_and_rolls_back(
    database: Database,
) -> None:
    async def insert_twice() -> None:
        async with database.transaction() as connection:
            await execute(connection, _INSERT, _thing("b"))
            await execute(connection, _INSERT, _thing("b"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with database.read() as connection:
        assert (await execute(connection, _ALL)).all() == []


async def test_what_the_driver_cannot_run_goes_through_sqlalchemy(database: Database) -> None:
    seen = _statements_seen(database)
    async with database.transaction() as connection:
        # the `state` column's Python-side default must be filled in by SQLAlchemy
        without_state = {key: value for key, value in _thing("c").items() if key != "state"}
        await execute(connection, _INSERT, without_state)
        some = (await execute(connection, _SOME, {"ids": ["c", "d"]})).all()
    async with database.engine.connect() as outside_transaction:
        everything = (await execute(outside_transaction, _ALL)).all()
    async with database.read() as connection:
        state = (await connection.execute(select(_THINGS.c.state))).scalar_one()
    assert state == "new"
    assert [tuple(row) for row in some] == [("c",)]
    assert [tuple(row) for row in everything] == [("c", 1)]
    assert [through_driver for _, through_driver in seen[:3]] == [False, False, False]


async def test_a_statement_refused_by_another_process_lock_waits_off_the_loop(
    database: Database,
) -> None:
    other_process = Database(database.url)
    inserting = asyncio.Event()

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _record(*args: Any) -> None:
        if str(args[2]).startswith("INSERT"):
            inserting.set()

    try:

        async def write_in_a_read_transaction() -> None:
            # a deferred transaction: its first write meets the other process's lock
            async with database.read() as connection:
                await execute(connection, _INSERT, _thing("e"))

        async with other_process.transaction() as holder:
            await holder.execute(_INSERT, _thing("f"))
            waiting = asyncio.create_task(write_in_a_read_transaction())
            # from the statement on, the task runs on until its wait moves to a thread
            await inserting.wait()
            await asyncio.wait_for(database.ping(), NO_WAIT_SECONDS)
            assert not waiting.done()
        await asyncio.wait_for(waiting, NO_WAIT_SECONDS)
        async with database.read() as connection:
            rows = (await execute(connection, _ALL)).all()
    finally:
        await other_process.dispose()
    assert [row.id for row in rows] == ["e", "f"]


async def test_many_rows_returning_go_through_sqlalchemy(database: Database) -> None:
    seen = _statements_seen(database)
    async with database.transaction() as connection:
        returned = await execute(connection, _INSERT_RETURNING, [_thing("g"), _thing("h")])
    assert sorted(row.id for row in returned.all()) == ["g", "h"]
    assert [through_driver for _, through_driver in seen] == [False]
