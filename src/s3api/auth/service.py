"""Anonymous sign-in: one user per device hash, even when sign-ins race."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.auth.schemas import AnonSession
from s3api.db.driver import execute
from s3api.db.engine import Database
from s3api.db.models import User
from s3api.ids import new_id
from s3api.security.device_hash import keyed_device_hash, may_be_stored_raw
from s3api.security.tokens import TokenIssuer
from s3api.timeutil import utcnow
from s3api.users.limits import UserLimiter
from s3api.users.plans import DEFAULT_PLAN, Plan


def _insert_user(dialect_insert: Any) -> Any:
    """`INSERT … ON CONFLICT (device_hash) DO NOTHING RETURNING id`, built once per dialect."""
    users = User.__table__
    return (
        dialect_insert(users)
        .on_conflict_do_nothing(index_elements=[users.c.device_hash])
        .returning(users.c.id)
    )


_INSERT_USER_SQLITE = _insert_user(sqlite.insert)
_INSERT_USER_POSTGRESQL = _insert_user(postgresql.insert)
_USERS = cast(Table, User.__table__)
_FIND_PLAN = select(_USERS.c.plan).where(_USERS.c.id == bindparam("user_id"))
_FIND_BY_DEVICE_HASH = select(_USERS.c.id).where(_USERS.c.device_hash == bindparam("device_hash"))
_KEY_RAW_DEVICE_HASH = (
    update(_USERS)
    .where(_USERS.c.device_hash == bindparam("raw_hash"))
    .values(device_hash=bindparam("keyed_hash"), updated_at=bindparam("changed_at"))
    .returning(_USERS.c.id)
)


class AuthService:
    """`POST /auth/anon`: a token for a new or returning device."""

    def __init__(
        self,
        database: Database,
        tokens: TokenIssuer,
        limiter: UserLimiter,
        device_hash_key: str,
    ) -> None:
        self.database = database
        self.tokens = tokens
        self.limiter = limiter
        self.device_hash_key = device_hash_key

    async def sign_in_anonymous(self, device_hash: str | None) -> AnonSession:
        """Create a user (granting the plan's sign-up credits) or reuse the device's one."""
        keyed = keyed_device_hash(self.device_hash_key, device_hash) if device_hash else None
        async with self.database.transaction() as connection:
            found = None
            if device_hash is not None and keyed is not None:
                found = await _find_device_user(connection, keyed, device_hash)
            credits = self.limiter.plans.limits(DEFAULT_PLAN).credits_at_signup
            if found is None:
                user_id, is_new = await self._insert_or_find_user(connection, keyed, credits)
            else:
                user_id, is_new = found, False
            if is_new:
                await self.limiter.record_opening_credits(connection, user_id, credits, "sign-up")
                plan = DEFAULT_PLAN.value
            else:
                plan = (await execute(connection, _FIND_PLAN, {"user_id": user_id})).scalar_one()
        return AnonSession(
            user_id=user_id,
            token=self.tokens.issue(user_id),
            plan=Plan.parse(plan),
            is_new=is_new,
        )

    async def _insert_or_find_user(
        self, connection: AsyncConnection, keyed_hash: str | None, credits: int
    ) -> tuple[str, bool]:
        """Insert with `ON CONFLICT DO NOTHING` so a racing twin finds the winner's row; a new
        row starts with its sign-up `credits` (their ledger row follows in the transaction)."""
        now = utcnow()
        values = {
            "id": new_id(),
            "device_hash": keyed_hash,
            "plan": DEFAULT_PLAN.value,
            "credits": credits,
            "created_at": now,
            "updated_at": now,
        }
        statement = _INSERT_USER_SQLITE if self.database.is_sqlite else _INSERT_USER_POSTGRESQL
        inserted = (await execute(connection, statement, values)).scalar_one_or_none()
        if inserted is not None:
            return inserted, True
        existing = await execute(connection, _FIND_BY_DEVICE_HASH, {"device_hash": keyed_hash})
        return existing.scalar_one(), False


async def _find_device_user(
    connection: AsyncConnection, keyed: str, device_hash: str
) -> str | None:
    """The device's user by its keyed hash, or by a raw hash stored before keying, which is
    rewritten to the keyed form in this same transaction."""
    found = await execute(connection, _FIND_BY_DEVICE_HASH, {"device_hash": keyed})
    user_id: str | None = found.scalar_one_or_none()
    if user_id is not None or not may_be_stored_raw(device_hash):
        return user_id
    upgraded = await execute(
        connection,
        _KEY_RAW_DEVICE_HASH,
        {"raw_hash": device_hash, "keyed_hash": keyed, "changed_at": utcnow()},
    )
    upgraded_id: str | None = upgraded.scalar_one_or_none()
    return upgraded_id
