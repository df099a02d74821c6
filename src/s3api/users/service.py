"""Account state, computed from the database on every call."""

from __future__ import annotations

from s3api.context import AppContext
from s3api.users.repository import UserRecord
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
