"""Anonymous sign-in: one user per device hash, even when sign-ins race."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.auth.schemas import AnonSession
from s3api.context import AppContext
from s3api.db.models import User
from s3api.ids import new_id
from s3api.timeutil import utcnow

DEFAULT_PLAN = "free"


async def sign_in_anonymous(context: AppContext, device_hash: str | None) -> AnonSession:
    """Create a user (granting the plan's sign-up credits) or reuse the device's one."""
    async with context.database.transaction() as connection:
        user_id, is_new = await _insert_or_find_user(connection, context, device_hash)
        if is_new:
            credits = context.settings.plan_limits(DEFAULT_PLAN).credits_at_signup
            await context.limiter.grant_credits(connection, user_id, credits, "sign-up")
        plan = (await connection.execute(select(User.plan).where(User.id == user_id))).scalar_one()
    return AnonSession(
        user_id=user_id, token=context.tokens.issue(user_id), plan=plan, is_new=is_new
    )


async def _insert_or_find_user(
    connection: AsyncConnection, context: AppContext, device_hash: str | None
) -> tuple[str, bool]:
    """Insert with `ON CONFLICT DO NOTHING` so a racing twin finds the winner's row."""
    now = utcnow()
    values = {
        "id": new_id(),
        "device_hash": device_hash,
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
    existing = await connection.execute(select(User.id).where(User.device_hash == device_hash))
    return existing.scalar_one(), False
