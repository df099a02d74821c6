"""`Idempotency-Key` on job creation: the first answer is kept per (user, key) and replayed.

The key row is written in the transaction that creates the job, after the user's row is
locked, so concurrent requests with one key queue on that lock: the first creates the job,
the others find its answer. Only successful creates are remembered; a refused create
reserved nothing and may be retried with the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import IdempotencyKey
from s3api.errors import ApiError, ErrorCode
from s3api.timeutil import utcnow

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY_LENGTH = 255

# built once: every create with a key replays or remembers its answer
_KEYS = cast(Table, IdempotencyKey.__table__)
_FIND_ANSWER = select(
    IdempotencyKey.fingerprint,
    IdempotencyKey.status_code,
    IdempotencyKey.body,
    IdempotencyKey.created_at,
).where(IdempotencyKey.user_id == bindparam("user_id"), IdempotencyKey.key == bindparam("key"))
_DELETE_ANSWER = delete(_KEYS).where(
    _KEYS.c.user_id == bindparam("target_user"), _KEYS.c.key == bindparam("target_key")
)
_INSERT_ANSWER = insert(_KEYS)
_DELETE_EXPIRED = delete(_KEYS).where(_KEYS.c.created_at <= bindparam("expired_before"))


@dataclass(frozen=True)
class IdempotentCall:
    """A request that carries an `Idempotency-Key`, with the fingerprint of what it asks."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: bytes) -> IdempotentCall:
        """The call for this key and request; the fingerprint covers method, path and body."""
        digest = hashlib.sha256()
        for part in (method.upper().encode(), path.encode(), body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return cls(key=key, fingerprint=digest.hexdigest())


@dataclass(frozen=True)
class Answer:
    """What a create answered: its status and the envelope's `data`."""

    status_code: int
    data: dict[str, Any]
    replayed: bool = False


class IdempotencyKeys:
    """Remembered answers; `clock` is replaceable so tests can move past the 24 hours."""

    def __init__(self, ttl: timedelta = IDEMPOTENCY_KEY_TTL) -> None:
        self.ttl = ttl
        self.clock: Callable[[], datetime] = utcnow

    async def replay(
        self, connection: AsyncConnection, user_id: str, call: IdempotentCall
    ) -> Answer | None:
        """The remembered answer to this key, or None; another request with it is refused."""
        row = (
            await execute(connection, _FIND_ANSWER, {"user_id": user_id, "key": call.key})
        ).first()
        if row is None or row.created_at <= self.clock() - self.ttl:
            return None
        if row.fingerprint != call.fingerprint:
            raise ApiError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was used with another request",
                {"idempotency_key": call.key},
            )
        return Answer(status_code=row.status_code, data=dict(row.body), replayed=True)

    async def remember(
        self, connection: AsyncConnection, user_id: str, call: IdempotentCall, answer: Answer
    ) -> None:
        """Keep the answer under the key, replacing an expired one."""
        await execute(connection, _DELETE_ANSWER, {"target_user": user_id, "target_key": call.key})
        await execute(
            connection,
            _INSERT_ANSWER,
            {
                "user_id": user_id,
                "key": call.key,
                "fingerprint": call.fingerprint,
                "status_code": answer.status_code,
                "body": answer.data,
                "created_at": self.clock(),
            },
        )

    async def forget_expired(self, connection: AsyncConnection) -> int:
        """Drop answers older than the time to live; returns how many."""
        result = await execute(
            connection, _DELETE_EXPIRED, {"expired_before": self.clock() - self.ttl}
        )
        return int(result.rowcount)
