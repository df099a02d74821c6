"""Is the database reachable and its schema current? One-line answers instead of tracebacks.

`serve` refuses a PostgreSQL schema behind the code's migrations (an operator runs
`s3api migrate`, once, before rolling out), migrates the embedded SQLite itself, and while
the database cannot be reached keeps trying with backoff, one log line per try.
"""

from __future__ import annotations

import asyncio
import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from s3api.db.engine import Database
from s3api.db.migrate import alembic_config, upgrade_to_head

logger = logging.getLogger("s3api.db")

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
_MAX_REASON_LENGTH = 160


class DatabaseUnreachableError(Exception):
    """The database did not answer; the message is one line naming it (password hidden)."""


class SchemaOutOfDateError(Exception):
    """The database schema is behind this version's migrations."""


def database_label(url: str) -> str:
    """`database "s3api" on db.example:5432 (postgresql+asyncpg://user:***@…)`, one line."""
    parsed = make_url(url)
    redacted = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database} ({redacted})"
    where = parsed.host or "localhost"
    if parsed.port:
        where = f"{where}:{parsed.port}"
    return f'database "{parsed.database}" on {where} ({redacted})'


# SQLSTATEs saying the server cannot serve this connection now (not that a statement was
# wrong): connection exceptions, a role or password refused, a database that does not exist,
# too many connections, and a server shutting down or starting up
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03")


def is_unreachable_error(error: BaseException) -> bool:
    """Whether an error means the database could not be reached or would not let this
    service in (rather than a bug): every route answers 503 until it can."""
    if isinstance(error, OSError | TimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error.orig, OSError | TimeoutError):
            return True
        sqlstate = getattr(error.orig, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    return False


def unreachable_message(url: str, error: BaseException) -> str:
    """The one line that `serve`, `migrate` and the background duties print."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return f"cannot reach {database_label(url)}: {reason[:_MAX_REASON_LENGTH]}"


async def ping(database: Database) -> None:
    """Raise `DatabaseUnreachableError` unless the database answers a query."""
    try:
        await database.ping()
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise DatabaseUnreachableError(unreachable_message(database.url, exc)) from exc


def head_revision(url: str) -> str | None:
    """The newest migration this version ships."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def current_revision(database: Database) -> str | None:
    """The revision the database is at (None when it was never migrated)."""

    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_read)


async def ensure_schema(database: Database, *, migrate: bool) -> None:
    """Migrate (embedded SQLite) or check that the schema is at head (PostgreSQL).

    Raises `DatabaseUnreachableError` or `SchemaOutOfDateError`, each with a one-line message.
    """
    await ping(database)
    if migrate:
        await upgrade_to_head(database)
        return
    head = head_revision(database.url)
    current = await current_revision(database)
    if current == head:
        return
    scripts = ScriptDirectory.from_config(alembic_config(database.url))
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        # a newer version migrated it (a rolling upgrade): this one runs on the newer schema
        logger.warning("database schema %s is newer than this version's %s", current, head)
        return
    raise SchemaOutOfDateError(
        f"the schema of {database_label(database.url)} is at revision {current or 'none'}, "
        f"this version needs {head}: run `s3api migrate`"
    )


async def wait_for_schema(
    database: Database,
    *,
    migrate: bool,
    stop: asyncio.Event,
    first_retry_seconds: float = FIRST_RETRY_SECONDS,
    max_retry_seconds: float = MAX_RETRY_SECONDS,
) -> bool:
    """`ensure_schema`, retried with exponential backoff while the database is unreachable.

    True once the schema is ready, False when `stop` was set first; `SchemaOutOfDateError`
    propagates (retrying cannot fix it).
    """
    delay = first_retry_seconds
    while not stop.is_set():
        try:
            await ensure_schema(database, migrate=migrate)
        except DatabaseUnreachableError as exc:
            logger.warning("%s; trying again in %.3gs", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, max_retry_seconds)
            continue
        return True
    return False
