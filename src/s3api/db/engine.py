"""The async engine and the two kinds of transaction the services open."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

from sqlalchemy import event, literal, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import OperationalError as DBAPIOperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util.concurrency import await_

from s3api.common.errors import ConfigurationError
from s3api.db.driver import run_on_driver
from s3api.db.sqlite_inline import InlineConnection, InlineSQLiteDialect, inline_url

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_SELECT_ONE = select(literal(1))
# pooled SQLite connections (and as many again in overflow): a reopened one costs a thread hop
SQLITE_POOL_SIZE = 32
# a fresh database's switch to WAL, refused while another connection switches it, is retried
WAL_SWITCH_RETRY_SECONDS = 0.01
_AFTER_COMMIT = "s3api_after_commit"
# an unreachable PostgreSQL host fails a connect in this long (asyncpg's default is 60 s)
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# execution option read by the SQLite `begin` listener: SQLAlchemy's `begin` issues no `BEGIN`
NO_BEGIN_OPTION = "s3api_no_begin"
# what hosted PostgreSQL providers hand out; the service speaks to PostgreSQL through asyncpg
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
USABLE_URL_FORMS = "postgresql://… (or postgres://, postgresql+asyncpg://) or sqlite:///…"


def async_database_url(url: str) -> str:
    """`url` in the form the engine opens: `postgres://` and `postgresql://` mean asyncpg,
    any SQLite driver name is kept (its statements run inline either way). Anything else is
    a `ConfigurationError` of one line, naming the URL's scheme but never its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"DATABASE_URL is not a database URL: use {USABLE_URL_FORMS}"
        ) from None
    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return url
    raise ConfigurationError(
        f"DATABASE_URL scheme {parsed.drivername}:// is not supported: use {USABLE_URL_FORMS}"
    )


class Database:
    """One engine per process; every use case runs in `transaction()` or `read()`.

    On SQLite a write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers queue
    on the database lock instead of failing on upgrade. Inside one process writers first queue
    on an asyncio lock, so they wait their turn without ever sleeping in SQLite's busy handler
    (which polls in growing steps); only writers of other processes still meet it there, and
    then on a worker thread (see `sqlite_inline`: SQLite statements run on the loop's own
    thread). Reads and the health check never take either lock (WAL readers run beside the
    writer). SQLite's writer and readers are connections kept per loop whose transactions
    begin and commit on the driver, and hot statements run on the driver too (`driver`).
    On PostgreSQL services take row locks (`FOR UPDATE`) and use guarded `UPDATE`s.
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS,
    ) -> None:
        url = async_database_url(url)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # statements run on the loop's thread (see `sqlite_inline`)
            # connections are only held, not busy: enough for every request in flight
            options.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
            self.engine: AsyncEngine = create_async_engine(inline_url(url), **options)
            dialect = cast(InlineSQLiteDialect, self.engine.dialect)
            dialect.busy_timeout_seconds = busy_timeout_seconds
            _configure_sqlite(self.engine, busy_timeout_seconds)
        else:
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            options["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
            self.engine = create_async_engine(url, **options)
        # per event loop, without keeping a closed loop alive
        self._writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnection] = (
            weakref.WeakKeyDictionary()
        )
        # SQLite connections kept for `read()`, idle ones per loop
        self._readers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, list[AsyncConnection]
        ] = weakref.WeakKeyDictionary()
        self._pings: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )
        self._compiled: dict[int, tuple[ClauseElement, str, tuple[str, ...], dict[str, Any]]] = {}
        # called with the SQL of each `fetch_row`, which bypasses SQLAlchemy's cursor events
        self.on_driver_statement: Callable[[str], None] | None = None
        # the same pool with the options of `read_one()`, set once
        self._read_one_engine = (
            self.engine.execution_options(**{NO_BEGIN_OPTION: True})
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._busy_timeout_seconds = busy_timeout_seconds
        self._sqlite_reader: sqlite3.Connection | None = None

    def writer_lock(self) -> asyncio.Lock:
        """The running loop's SQLite writer lock (one per loop: a lock belongs to its loop)."""
        loop = asyncio.get_running_loop()
        lock = self._writer_locks.get(loop)
        if lock is None:
            lock = self._writer_locks[loop] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write unit of work, committed once on success and rolled back on any error.

        On SQLite the process's writers first queue on the writer lock, and take turns on one
        connection kept for them (no pool checkout and return per transaction). Callbacks
        registered with `after_commit` run once the commit succeeded (and the writer lock is
        released); a rollback drops them.
        """
        async with AsyncExitStack() as stack:
            if self.is_sqlite:
                connection = await stack.enter_async_context(self._sqlite_writer())
            else:
                connection = await stack.enter_async_context(self.engine.connect())
            try:
                async with (
                    _sqlite_transaction(connection, "BEGIN IMMEDIATE")
                    if self.is_sqlite
                    else connection.begin()
                ):
                    yield connection
            finally:
                committed_callbacks = connection.info.pop(_AFTER_COMMIT, [])
        for callback in committed_callbacks:
            callback()

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[AsyncConnection]:
        """The running loop's writer connection, held with its lock."""
        async with self.writer_lock():
            loop = asyncio.get_running_loop()
            connection = self._writers.get(loop)
            if connection is None or connection.closed or connection.invalidated:
                connection = self._writers[loop] = await self._driver_begun_connection()
            yield connection

    async def _driver_begun_connection(self) -> AsyncConnection:
        """A connection kept out of the pool, whose transactions begin on the driver
        (`_sqlite_transaction`)."""
        connection = await self.engine.connect()
        await connection.execution_options(**{NO_BEGIN_OPTION: True})
        return connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot that takes no write lock on SQLite.

        On SQLite it runs on a connection kept for reads (the idle ones wait in a list per
        loop), begun and committed on the driver: a pool checkout, `BEGIN`, `COMMIT` and
        return through SQLAlchemy's asyncio layer cost ~95 µs around a read of a few."""
        if not self.is_sqlite:
            async with self.engine.connect() as connection, connection.begin():
                yield connection
            return
        idle = self._readers.setdefault(asyncio.get_running_loop(), [])
        connection = idle.pop() if idle else await self._driver_begun_connection()
        try:
            async with _sqlite_transaction(connection, "BEGIN"):
                yield connection
        finally:
            if connection.invalidated or len(idle) >= SQLITE_POOL_SIZE:
                await connection.close()
            else:
                idle.append(connection)

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncConnection]:
        """For a single statement, which is its own snapshot: no `BEGIN` and `COMMIT` around
        it (on PostgreSQL two round trips saved)."""
        async with self._read_one_engine.connect() as connection, connection.begin():
            yield connection

    async def fetch_row(
        self, statement: ClauseElement, params: dict[str, Any]
    ) -> Sequence[Any] | None:
        """The first row of a single-statement read, sent straight to the driver: compiled
        once per statement, no transaction, one call into the driver instead of SQLAlchemy's
        cursor round trips (on SQLite a statement on the loop's thread, on a connection kept
        for these reads; on PostgreSQL one asyncpg call). Values come back as the driver
        gives them, so use it for plain text and integer columns."""
        sql, names, fixed = self._compiled_form(statement, params)
        values = {**fixed, **params}
        arguments = [values[name] for name in names]
        if self.on_driver_statement is not None:
            self.on_driver_statement(sql)
        if self.is_sqlite:
            reader = self._sqlite_reader or await self._open_sqlite_reader()
            try:
                row = reader.execute(sql, arguments).fetchone()
            except sqlite3.OperationalError as error:
                raise DBAPIOperationalError(sql, arguments, error) from error
            return None if row is None else tuple(row)
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            record = await driver.fetchrow(sql, *arguments)
            return None if record is None else tuple(record)

    async def _open_sqlite_reader(self) -> sqlite3.Connection:
        """The connection `fetch_row` and `ping` use on SQLite, opened on first use."""
        filename = str(self.engine.url.database or "")
        try:
            reader = await asyncio.to_thread(_open_sqlite, filename, self._busy_timeout_seconds)
        except sqlite3.OperationalError as error:
            raise DBAPIOperationalError("connect", {}, error) from error
        if self._sqlite_reader is not None:  # another caller opened one meanwhile
            reader.close()
            return self._sqlite_reader
        self._sqlite_reader = reader
        return reader

    def _compiled_form(
        self, statement: ClauseElement, params: dict[str, Any]
    ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        """SQL, parameter order and the statement's own values (expanded `IN` lists), worked
        out on first use; the caller's parameters only fill the open slots."""
        cached = self._compiled.get(id(statement))
        if cached is not None and cached[0] is statement:
            return cached[1], cached[2], cached[3]
        compiled = cast(SQLCompiler, statement.compile(dialect=self.engine.dialect))
        expanded = compiled.construct_expanded_state(params)
        names = tuple(expanded.positiontup or ())
        fixed = {name: value for name, value in expanded.parameters.items() if name not in params}
        self._compiled[id(statement)] = (statement, expanded.statement, names, fixed)
        return expanded.statement, names, fixed

    async def ping(self) -> None:
        """Raise if the database cannot be reached; takes no lock. Concurrent callers share
        the one ping in flight, so a burst of health checks costs one round trip (on SQLite a
        ping is a statement on the loop's thread, cheaper than sharing it)."""
        if self.is_sqlite:
            await self.fetch_row(_SELECT_ONE, {})
            return
        loop = asyncio.get_running_loop()
        in_flight = self._pings.get(loop)
        if in_flight is None:
            in_flight = self._pings[loop] = loop.create_task(self._ping_once())
            # forget it once done: a kept failure would hold its connection past the loop
            in_flight.add_done_callback(lambda _done: self._pings.pop(loop, None))
        await asyncio.shield(in_flight)

    async def _ping_once(self) -> None:
        async with self.read_one() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        """Close every pooled connection (and SQLite's reader and writer)."""
        reader, self._sqlite_reader = self._sqlite_reader, None
        if reader is not None:
            reader.close()
        writers = list(self._writers.values())
        writers += [reader for idle in self._readers.values() for reader in idle]
        self._writers.clear()
        self._readers.clear()
        for writer in writers:
            await writer.close()
        await self.engine.dispose()


@asynccontextmanager
async def _sqlite_transaction(connection: AsyncConnection, begin: str) -> AsyncIterator[None]:
    """`begin` … `COMMIT` on a kept connection's driver, on the loop's thread.

    SQLAlchemy's asyncio `begin()` and `commit()` each cost a greenlet around a driver call
    of a few microseconds; here the driver is called directly (waiting off the loop if
    another process holds the lock) and SQLAlchemy only records the transaction, which the
    connection's `NO_BEGIN_OPTION` keeps from issuing a `BEGIN` of its own."""
    sync = connection.sync_connection
    assert sync is not None
    driver = cast(sqlite3.Connection, sync.connection.dbapi_connection)
    await run_on_driver(sync, lambda: driver.execute(begin), begin)
    transaction = sync.begin()
    try:
        yield
        await run_on_driver(sync, driver.commit, "COMMIT")
    except BaseException:
        transaction.rollback()
        raise
    transaction.commit()  # the driver's transaction is over: this commit is a no-op there


def after_commit(connection: AsyncConnection, callback: Callable[[], None]) -> None:
    """Run `callback` when the `Database.transaction()` of `connection` has committed."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _open_sqlite(filename: str, busy_timeout_seconds: float) -> sqlite3.Connection:
    """Open on a worker thread, where the first `PRAGMA journal_mode=WAL` may wait for other
    processes; after that the connection waits for no lock on the loop's thread."""
    connection = sqlite3.connect(
        filename,
        timeout=busy_timeout_seconds,
        isolation_level=None,
        check_same_thread=False,
        factory=InlineConnection,
    )
    try:
        _use_wal(connection, busy_timeout_seconds)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=0")
    except BaseException:
        connection.close()
        raise
    return connection


def _use_wal(connection: sqlite3.Connection, busy_timeout_seconds: float) -> None:
    """Switch a new database to WAL. Two connections switching it at once can be refused
    without the busy handler (each holds the shared lock the other needs), so a refused
    switch is retried until WAL is on or the busy timeout has passed."""
    deadline = time.monotonic() + busy_timeout_seconds
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            if time.monotonic() >= deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_SECONDS)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_seconds: float) -> None:
    """WAL, foreign keys and explicit BEGIN so SQLite gives us real write transactions."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _do_connect(_dialect: Any, _record: Any, cargs: Any, _cparams: Any) -> Any:
        filename = str(cargs[0]) if cargs else ""
        return await_(asyncio.to_thread(_open_sqlite, filename, busy_timeout_seconds))

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(NO_BEGIN_OPTION, False):
            # `read_one()`: the one statement that follows is its own transaction; kept
            # connections: `_sqlite_transaction` has begun on the driver already
            return
        # straight to the driver: no statement, cursor result or events to build
        dialect = cast(InlineSQLiteDialect, connection.dialect)
        dialect.run_bare(connection.connection.dbapi_connection, "BEGIN IMMEDIATE")
