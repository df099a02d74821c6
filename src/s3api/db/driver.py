"""Prepared statements run straight on the SQLite driver, for the hot paths.

Why: the job lifecycle runs about a hundred short statements per job. Through SQLAlchemy's
asyncio layer each one costs ~100 µs of the loop's time (a greenlet, a cache key, an
execution context, a cursor result) around a statement that SQLite runs in ~10 µs. Here a
statement built once is compiled once per set of parameter names, with its bind and result
processors looked up at that point; each call then converts its values and calls the
driver's cursor on the loop's thread (SQLite's statements already run there, see
`sqlite_inline`). Cursor listeners still see every statement.

Anything this path cannot run exactly as SQLAlchemy would goes through `connection.execute`
unchanged: PostgreSQL, statements whose SQL depends on the values (expanding `IN`, literal
post-compile parameters), Python-side column defaults, and connections outside a
transaction. Callers use the part of the result API that both sides share (`StatementResult`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from s3api.db.sqlite_inline import InlineSQLiteDialect, is_busy

Params = Mapping[str, Any]
_Processor = Callable[[Any], Any] | None
# compiled forms kept (statements are meant to be built once; a flood of ad-hoc ones resets it)
_CACHE_LIMIT = 2048
_T = TypeVar("_T")


class StatementResult(Protocol):
    """What callers read from `execute`: SQLAlchemy's results and `DriverResult` both have it."""

    @property
    def rowcount(self) -> int: ...

    def first(self) -> Any: ...

    def all(self) -> Sequence[Any]: ...

    def one(self) -> Any: ...

    def scalar(self) -> Any: ...

    def scalar_one(self) -> Any: ...

    def scalar_one_or_none(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class DriverResult:
    """Rows fetched whole (named tuples: by position or by column name) and the row count."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> Sequence[Any]:
        return self._rows

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise ValueError(f"expected at most one row, got {len(self._rows)}")
        return self.scalar()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


@dataclass(frozen=True)
class _Prepared:
    """One statement compiled for one set of parameter names."""

    statement: ClauseElement  # held, so that its id is not reused while cached
    sql: str
    # per positional slot: the caller's parameter name, or None with the statement's own value
    slots: tuple[tuple[str | None, Any, _Processor], ...]
    row: Callable[..., Any] | None  # builds a row; None when the statement returns none
    result_processors: tuple[_Processor, ...]


_UNSUPPORTED = object()
_prepared: dict[tuple[int, tuple[str, ...]], _Prepared | object] = {}


async def execute(
    connection: AsyncConnection,
    statement: Executable,
    params: Params | Sequence[Params] | None = None,
) -> StatementResult:
    """`connection.execute(statement, params)`, on the driver directly where it can be."""
    sync = connection.sync_connection
    if (
        sync is None
        or not isinstance(connection.dialect, InlineSQLiteDialect)
        or not sync.in_transaction()
    ):
        return await connection.execute(statement, params)
    many = isinstance(params, Sequence)
    batch: Sequence[Params] = (
        cast(Sequence[Params], params) if many else [cast(Params, params or {})]
    )
    if not batch:
        return await connection.execute(statement, params)
    names = tuple(sorted(batch[0]))
    element = cast(ClauseElement, statement)
    prepared = _prepared.get((id(element), names))
    if prepared is None or (isinstance(prepared, _Prepared) and prepared.statement is not element):
        prepared = _prepare(connection, element, names)
    if not isinstance(prepared, _Prepared) or (many and prepared.row is not None):
        # `executemany` returns no rows: SQLAlchemy batches a `RETURNING` of many itself
        return await connection.execute(statement, params)
    arguments = [_arguments(prepared, values) for values in batch]
    return await _run(sync, prepared, arguments, many)


def _prepare(connection: AsyncConnection, statement: ClauseElement, names: tuple[str, ...]) -> Any:
    if len(_prepared) >= _CACHE_LIMIT:
        _prepared.clear()
    found = _compile(connection, statement, names)
    _prepared[(id(statement), names)] = found
    return found


def _compile(
    connection: AsyncConnection, statement: ClauseElement, names: tuple[str, ...]
) -> _Prepared | object:
    """The prepared form, or `_UNSUPPORTED` where SQLAlchemy must run the statement."""
    dialect = connection.dialect
    compiled = cast(
        SQLCompiler,
        statement.compile(
            dialect=dialect,
            column_keys=list(names) if isinstance(statement, UpdateBase) else None,
        ),
    )
    if (
        compiled.positiontup is None
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or any(bind.expanding or bind.callable is not None for bind in compiled.binds.values())
    ):
        return _UNSUPPORTED
    processors = compiled._bind_processors
    slots: list[tuple[str | None, Any, _Processor]] = []
    for name in compiled.positiontup:
        processor = cast(_Processor, processors.get(name))
        if name in names:
            slots.append((name, None, processor))
            continue
        bind = compiled.binds[name]
        if bind.required:
            return _UNSUPPORTED  # SQLAlchemy raises its own error for the missing value
        value = bind.effective_value
        slots.append((None, processor(value) if processor else value, None))
    columns = compiled._result_columns
    row = None
    if columns:
        row_type: Any = namedtuple("Row", [column[0] for column in columns], rename=True)  # type: ignore[misc]
        row = row_type._make
    result_processors = tuple(
        cast(_Processor, column[3]._cached_result_processor(dialect, None)) for column in columns
    )
    return _Prepared(statement, compiled.string, tuple(slots), row, result_processors)


def _arguments(prepared: _Prepared, values: Params) -> list[Any]:
    arguments = []
    for name, fixed, processor in prepared.slots:
        if name is None:
            arguments.append(fixed)
            continue
        value = values[name]
        arguments.append(processor(value) if processor is not None else value)
    return arguments


async def _run(
    sync: Connection, prepared: _Prepared, arguments: list[list[Any]], many: bool
) -> DriverResult:
    """Run on the loop's thread; a statement refused by another process's lock is retried
    once off the loop, as the dialect does."""
    driver = cast(sqlite3.Connection, sync.connection.dbapi_connection)
    cursor = driver.cursor()
    if sync._has_events or sync.engine._has_events:
        sync.dispatch.before_cursor_execute(
            sync, cursor, prepared.sql, arguments if many else arguments[0], None, many
        )

    def attempt() -> list[Any]:
        _call(cursor, prepared.sql, arguments, many)
        return cursor.fetchall() if prepared.row is not None else []

    try:
        rows = await run_on_driver(sync, attempt, prepared.sql, arguments)
        rowcount = cursor.rowcount
    finally:
        cursor.close()
    if prepared.row is None:
        return DriverResult([], rowcount)
    make = prepared.row
    processors = prepared.result_processors
    if not any(processors):
        return DriverResult([make(row) for row in rows], rowcount)
    return DriverResult(
        [
            make(
                processor(value) if processor is not None else value
                for processor, value in zip(processors, row, strict=True)
            )
            for row in rows
        ],
        rowcount,
    )


async def run_on_driver(
    sync: Connection, attempt: Callable[[], _T], statement: str, parameters: Any = ()
) -> _T:
    """`attempt` (a call on the connection's `sqlite3` driver, for `statement`) on the loop's
    thread; once more on a worker thread, with the busy timeout, when another process's lock
    refused it (a refused statement had no effect). Driver errors leave as SQLAlchemy's."""
    dialect = cast(InlineSQLiteDialect, sync.dialect)
    try:
        try:
            return attempt()
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            driver = sync.connection.dbapi_connection
            return await asyncio.to_thread(dialect.waiting_for_lock(driver, attempt))
    except sqlite3.Error as error:
        raise DBAPIError.instance(
            statement, parameters, error, sqlite3.Error, dialect=dialect
        ) from error


def _call(cursor: sqlite3.Cursor, sql: str, arguments: list[list[Any]], many: bool) -> None:
    if many:
        cursor.executemany(sql, arguments)
    else:
        cursor.execute(sql, arguments[0])
