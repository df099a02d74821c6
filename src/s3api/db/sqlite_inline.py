"""SQLite run on the event loop's own thread, behind SQLAlchemy's asyncio API.

Why: a statement on a local SQLite file takes microseconds, while handing it to a driver
thread (aiosqlite) and waking the loop again costs far more, several times per request. So
this dialect gives `create_async_engine` the standard `sqlite3` connection and runs each
statement inline. The one thing that could block the loop is SQLite's busy handler, when
another process holds the write lock: connections therefore run with `busy_timeout=0`, and a
statement refused as busy is retried once on a worker thread with the full timeout, so the
loop keeps serving while it waits. Inside one process writers never meet that case: they
queue on `Database`'s writer lock first.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.util.concurrency import await_

DRIVER_NAME = "s3api_inline"
_T = TypeVar("_T")


async def _ready() -> None:
    """Awaited once per statement: `AsyncConnection.execute` insists that its driver awaited
    something (its guard against sync drivers); this returns without suspending."""


class InlineCursor(sqlite3.Cursor):
    """A `sqlite3` cursor with the one hook SQLAlchemy's asyncio results call on theirs."""

    async def _async_soft_close(self) -> None:
        """Nothing to release: the rows are read on this thread, whenever they are read."""


class InlineConnection(sqlite3.Connection):
    """A `sqlite3` connection whose cursors are `InlineCursor`s."""

    def cursor(self, factory: Any = InlineCursor) -> Any:
        return super().cursor(factory)


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused the statement because another connection holds the lock. The
    code is an extended one: `SQLITE_BUSY_RECOVERY`, met while another connection recovers
    a fresh WAL, is `SQLITE_BUSY` in its low byte."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, declared asynchronous so that `AsyncEngine` accepts it; its statements never
    leave the loop's thread unless SQLite reports another process's lock."""

    driver = DRIVER_NAME
    is_async = True
    supports_statement_cache = True
    # the wait for another process's lock, in seconds (set from `Database`)
    busy_timeout_seconds: float = 30.0

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # the asyncio queue: a checkout waits on the loop, never on a thread lock
        return pool.AsyncAdaptedQueuePool

    def do_execute(
        self, cursor: DBAPICursor, statement: str, parameters: Any, context: Any = None
    ) -> None:
        await_(_ready())
        self._run(cursor.connection, lambda: cursor.execute(statement, parameters))

    def do_execute_no_params(
        self, cursor: DBAPICursor, statement: str, context: Any = None
    ) -> None:
        await_(_ready())
        self._run(cursor.connection, lambda: cursor.execute(statement))

    def do_executemany(
        self, cursor: DBAPICursor, statement: str, parameters: Any, context: Any = None
    ) -> None:
        # only inside a write transaction, which holds the lock already
        await_(_ready())
        cursor.executemany(statement, parameters)

    def run_bare(self, dbapi_connection: Any, statement: str) -> None:
        """One parameterless statement on the driver's connection (`BEGIN`), with the same
        wait off the loop for another process's lock."""
        cursor = dbapi_connection.cursor()
        try:
            self.do_execute_no_params(cursor, statement)
        finally:
            cursor.close()

    def do_commit(self, dbapi_connection: Any) -> None:
        self._run(dbapi_connection, dbapi_connection.commit)

    def _run(self, connection: Any, attempt: Callable[[], object]) -> None:
        """`attempt` on the loop's thread; once more off it if another process's lock
        refused it (a refused statement had no effect)."""
        try:
            attempt()
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            self._wait_off_loop(connection, attempt)

    def _wait_off_loop(self, connection: Any, retry: Callable[[], object]) -> None:
        """Run `retry` on a worker thread with the busy timeout on, the loop free meanwhile."""
        await_(asyncio.to_thread(self.waiting_for_lock(connection, retry)))

    def waiting_for_lock(self, connection: Any, retry: Callable[[], _T]) -> Callable[[], _T]:
        """`retry` with the busy timeout on for its duration, to run on a worker thread."""
        timeout_ms = round(self.busy_timeout_seconds * 1000)

        def waiting() -> _T:
            connection.execute(f"PRAGMA busy_timeout={timeout_ms}")
            try:
                return retry()
            finally:
                connection.execute("PRAGMA busy_timeout=0")

        return waiting


registry.register(f"sqlite.{DRIVER_NAME}", __name__, "InlineSQLiteDialect")


def inline_url(url: str) -> URL:
    """The same SQLite database, through this dialect."""
    return make_url(url).set(drivername=f"sqlite+{DRIVER_NAME}")
