"""Anonymous sign-in: one user per device hash, even when sign-ins race."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.auth.schemas import AnonSession
from s3api.context import AppContext
from s3api.db.models import User
from s3api.ids import new_id
from s3api.security.device_hash import keyed_device_hash, may_be_stored_raw
from s3api.timeutil import utcnow

DEFAULT_PLAN = "free"


async def sign_in_anonymous(context: AppContext, device_hash: str | None) -> AnonSession:
    """Create a user (granting the plan's sign-up credits) or reuse the device's one."""
    keyed = (
        keyed_device_hash(context.settings.device_hash_key, device_hash) if device_hash else None
    )
    async with context.database.transaction() as connection:
        found = None
        if device_hash is not None and keyed is not None:
            found = await _find_device_user(connection, keyed, device_hash)
        if found is None:
            user_id, is_new = await _insert_or_find_user(connection, context, keyed)
        else:
            user_id, is_new = found, False
        if is_new:
            credits = context.settings.plan_limits(DEFAULT_PLAN).credits_at_signup
            await context.limiter.grant_credits(connection, user_id, credits, "sign-up")
        plan = (await connection.execute(select(User.plan).where(User.id == user_id))).scalar_one()
    return AnonSession(
        user_id=user_id, token=context.tokens.issue(user_id), plan=plan, is_new=is_new
    )


async def _find_device_user(
    connection: AsyncConnection, keyed: str, device_hash: str
) -> str | None:
    """The device's user by its keyed hash, or by a raw hash stored before keying, which is
    rewritten to the keyed form in this same transaction."""
    found = await connection.execute(select(User.id).where(User.device_hash == keyed))
    user_id = found.scalar_one_or_none()
    if user_id is not None or not may_be_stored_raw(device_hash):
        return user_id
    upgraded = await connection.execute(
        update(User)
        .where(User.device_hash == device_hash)
        .values(device_hash=keyed, updated_at=utcnow())
        .returning(User.id)
    )
    return upgraded.scalar_one_or_none()


async def _insert_or_find_user(
    connection: AsyncConnection, context: AppContext, keyed_hash: str | None
) -> tuple[str, bool]:
    """Insert with `ON CONFLICT DO NOTHING` so a racing twin finds the winner's row."""
    now = utcnow()
    values = {
        "id": new_id(),
        "device_hash": keyed_hash,
        "plan": DEFAULT_PLAN,
        "credits": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = postgresql if not context.database.is_sqlite else sqlite
    statement = (
        dialect.insert(User)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[User.device_hash])
        .returning(User.id)
    )
    inserted = (await connection.execute(statement)).scalar_one_or_none()
    if inserted is not None:
        return inserted, True
    existing = await connection.execute(select(User.id).where(User.device_hash == keyed_hash))
    return existing.scalar_one(), False
