"""Wake-ups for watchers of a subject (a job id), across every process of the service.

On PostgreSQL a change is announced with `pg_notify` inside the writing transaction, so it
is delivered only if, and when, that transaction commits; each process holds one dedicated
`LISTEN` connection and fans notifications out to its watchers in memory. On SQLite (one
process) the announcement is an in-memory wake-up run after the commit. A watcher is an
`asyncio.Event`: waiting on it costs nothing until something happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database, after_commit

logger = logging.getLogger("s3api.notify")

CHANNEL = "s3api_changes"
LISTENER_CONNECT_TIMEOUT_SECONDS = 10


class ChangeNotifier:
    """Announce changes of subjects in a transaction; watch a subject for changes."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncpg.Connection | None = None
        self._listener_lock = asyncio.Lock()

    async def announce(self, connection: AsyncConnection, subject: str) -> None:
        """Wake every watcher of `subject`, in any process, once this transaction commits."""
        if self.database.is_sqlite:
            after_commit(connection, lambda: self.wake(subject))
        else:
            await connection.execute(select(func.pg_notify(CHANNEL, subject)))

    @asynccontextmanager
    async def watch(self, subject: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `subject` changes; the watcher clears it before re-reading."""
        if not self.database.is_sqlite:
            await self._ensure_listening()
        changed = asyncio.Event()
        self._watchers.setdefault(subject, set()).add(changed)
        try:
            yield changed
        finally:
            watchers = self._watchers.get(subject)
            if watchers is not None:
                watchers.discard(changed)
                if not watchers:
                    del self._watchers[subject]

    def wake(self, subject: str) -> None:
        """Set the event of every local watcher of `subject`."""
        for changed in self._watchers.get(subject, ()):
            changed.set()

    def watcher_count(self) -> int:
        """How many watchers this process holds (for tests and metrics)."""
        return sum(len(watchers) for watchers in self._watchers.values())

    async def close(self) -> None:
        """Drop the listening connection."""
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            listener.remove_termination_listener(self._on_listener_lost)
            with suppress(Exception):
                await listener.close(timeout=5)

    async def _ensure_listening(self) -> None:
        """Open the process's one `LISTEN` connection on first use (or after it was lost)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._listener_lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            dsn = make_url(self.database.url).set(drivername="postgresql")
            listener = await asyncpg.connect(
                dsn.render_as_string(hide_password=False),
                timeout=LISTENER_CONNECT_TIMEOUT_SECONDS,
            )
            await listener.add_listener(CHANNEL, self._on_notification)
            listener.add_termination_listener(self._on_listener_lost)
            self._listener = listener

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.wake(payload)

    def _on_listener_lost(self, _connection: Any) -> None:
        """Wake everyone so each re-reads; the next watch reconnects."""
        logger.warning("lost the notification connection; watchers re-read and reconnect")
        self._listener = None
        for subject in list(self._watchers):
            self.wake(subject)
