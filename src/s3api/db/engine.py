"""The async engine and the two kinds of transaction the services open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_AFTER_COMMIT = "s3api_after_commit"
# an unreachable PostgreSQL host fails a connect in this long (asyncpg's default is 60 s)
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# A failed connect's worker thread only has to run aiosqlite's no-op close before it ends.
SQLITE_WORKER_STOP_SECONDS = 5.0


class Database:
    """One engine per process; every use case runs in `transaction()` or `read()`.

    On SQLite a write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers queue
    on the database lock instead of failing on upgrade; on PostgreSQL services take row locks
    (`FOR UPDATE`) and use guarded `UPDATE`s.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        else:
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            options["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write unit of work, committed once on success and rolled back on any error.

        Callbacks registered with `after_commit` run once the commit succeeded; a rollback
        drops them.
        """
        async with self.engine.connect() as connection:
            try:
                async with connection.begin():
                    yield connection
            finally:
                committed_callbacks = connection.info.pop(_AFTER_COMMIT, [])
        for callback in committed_callbacks:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot that takes no write lock on SQLite."""
        async with self.engine.connect() as connection:
            await connection.execution_options(s3api_read_only=True)
            async with connection.begin():
                yield connection

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def after_commit(connection: AsyncConnection, callback: Callable[[], None]) -> None:
    """Run `callback` when the `Database.transaction()` of `connection` has committed."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def _open_sqlite(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
    """`aiosqlite.connect`, but a failed connect returns only once its worker thread has ended.

    On a failed connect aiosqlite stops its worker thread without waiting for it; the thread
    then resolves a future on this event loop. Were the loop closed by then (the caller gave
    up and shut down, as a test does), the thread would die with "Event loop is closed".
    """
    connection = aiosqlite.connect(*args, **kwargs)
    worker = connection._thread  # SQLAlchemy's own aiosqlite adapter reaches for it too
    worker.daemon = True
    try:
        return await connection
    except BaseException:
        worker.join(SQLITE_WORKER_STOP_SECONDS)
        raise


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys and explicit BEGIN so SQLite gives us real write transactions."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=_open_sqlite, **cparams)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get("s3api_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
