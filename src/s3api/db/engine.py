"""The async engine and the two kinds of transaction the services open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30


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
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._after_commit: dict[AsyncConnection, list[Callable[[], None]]] = {}
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write unit of work, committed once on success and rolled back on any error."""
        async with self.engine.connect() as connection:
            hooks: list[Callable[[], None]] = []
            self._after_commit[connection] = hooks
            try:
                async with connection.begin():
                    yield connection
            finally:
                del self._after_commit[connection]
            for hook in hooks:
                hook()

    def after_commit(self, connection: AsyncConnection, hook: Callable[[], None]) -> None:
        """Run `hook` once the write transaction of `connection` has committed (never on rollback)."""
        self._after_commit[connection].append(hook)

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


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys and explicit BEGIN so SQLite gives us real write transactions."""

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
