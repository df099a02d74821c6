"""Account state, computed from the database on every call."""

from __future__ import annotations

from sqlalchemy import update

from s3api.context import AppContext
from s3api.db.models import User
from s3api.errors import ApiError, ErrorCode
from s3api.timeutil import utcnow
from s3api.users.repository import UserRecord, find_user
from s3api.users.schemas import AccountState


async def account_state(context: AppContext, user: UserRecord) -> AccountState:
    """Credits, rule slots in use and active jobs of `user`, from one snapshot."""
    async with context.database.read() as connection:
        state = await context.limiter.user_state(connection, user)
    return AccountState(
        user_id=state.user_id,
        plan=state.plan,
        credits=state.credits,
        rule_slots=state.rule_slots,
        concurrent_jobs=state.concurrent_jobs,
        max_rule_slots=state.limits.max_rule_slots,
        max_concurrency=state.limits.max_concurrency,
        max_items_per_job=state.limits.max_items_per_job,
    )


async def grant_credits(
    context: AppContext, user_id: str, amount: int, plan: str | None, reason: str
) -> AccountState:
    """Operator action: add (or take back) credits and optionally change the plan, atomically."""
    async with context.database.transaction() as connection:
        user = await find_user(connection, user_id, lock=True)
        if user is None:
            raise ApiError(ErrorCode.NOT_FOUND, "No such user")
        if user.credits + amount < 0:
            raise ApiError(
                ErrorCode.INSUFFICIENT_CREDITS,
                f"The user has {user.credits} credits; cannot take back {-amount}",
            )
        if amount:
            await context.limiter.grant_credits(connection, user_id, amount, reason)
        if plan is not None and plan != user.plan:
            await connection.execute(
                update(User).where(User.id == user_id).values(plan=plan, updated_at=utcnow())
            )
        updated = await find_user(connection, user_id)
    assert updated is not None
    return await account_state(context, updated)
