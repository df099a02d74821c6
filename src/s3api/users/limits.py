"""UserLimiter: credits, concurrency slots and rule slots of one user.

The original kept these in a per-user Durable Object. Here every check and movement runs
inside the caller's transaction, after the user's row is locked, so concurrent requests of
one user are serialised by the database and nothing lives only in memory. The slots in use
are counted by their owners (the jobs and rules repositories) inside the same transaction
and passed in, never kept as separate counters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.errors import ApiError, ErrorCode
from s3api.users import repository
from s3api.users.plans import PlanLimits, PlanPolicy
from s3api.users.repository import BillingKind, UserRecord

# the jobs holding the user's slots, `{job_id, status}` each (the jobs package knows them)
ActiveJobsLister = Callable[[], Awaitable[list[dict[str, str]]]]


class UserLimiter:
    """Enforces a plan's limits; every method runs inside the caller's transaction."""

    def __init__(self, plans: PlanPolicy) -> None:
        self.plans = plans

    def limits_for(self, user: UserRecord) -> PlanLimits:
        """The limits of the user's current plan."""
        return self.plans.limits(user.plan)

    async def lock_user(self, connection: AsyncConnection, user_id: str) -> UserRecord:
        """Lock the user's row for the rest of the transaction; a vanished user has no token."""
        user = await repository.find_user(connection, user_id, lock=True)
        if user is None:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
        return user

    def claim_rule_slot(self, user: UserRecord, rules_in_use: int) -> None:
        """Raise `RULE_SLOT_LIMIT` unless the (locked) user has a free rule slot."""
        if rules_in_use >= self.limits_for(user).max_rule_slots:
            raise ApiError(ErrorCode.RULE_SLOT_LIMIT)

    async def reserve_for_job(
        self,
        connection: AsyncConnection,
        user: UserRecord,
        job_id: str,
        item_count: int,
        active_jobs: int,
        list_active_jobs: ActiveJobsLister | None = None,
        extra_renders: int = 0,
    ) -> None:
        """Check item, concurrency and credit limits in API order, then debit the credits:
        one per item, and `extra_renders` more for a job queued at once with a template
        that renders several edits of each photo. A refusal for want of a slot names the
        jobs holding them when `list_active_jobs` can tell, so the client can offer to
        cancel one."""
        limits = self.limits_for(user)
        if item_count > limits.max_items_per_job:
            raise ApiError(
                ErrorCode.ITEM_LIMIT,
                f"Your plan allows at most {limits.max_items_per_job} items per job",
                {"max_items_per_job": limits.max_items_per_job},
            )
        if active_jobs >= limits.max_concurrency:
            details: dict[str, object] = {"max_concurrency": limits.max_concurrency}
            if list_active_jobs is not None:
                details["active_jobs"] = await list_active_jobs()
            raise ApiError(ErrorCode.CONCURRENCY_LIMIT, details=details)
        if user.credits < item_count + extra_renders:
            raise ApiError(
                ErrorCode.INSUFFICIENT_CREDITS,
                details={"credits": user.credits, "required": item_count + extra_renders},
            )
        await repository.move_credits(connection, user.id, -item_count, BillingKind.RESERVE, job_id)
        await self._debit_renders(connection, user.id, job_id, extra_renders)

    async def reserve_extra_renders(
        self, connection: AsyncConnection, user: UserRecord, job_id: str, amount: int
    ) -> None:
        """Debit the renders past each photo's first (drafts, options) of a created job
        being queued with its template; the locked `user` is read in this transaction."""
        if user.credits < amount:
            raise ApiError(
                ErrorCode.INSUFFICIENT_CREDITS,
                details={"credits": user.credits, "required": amount},
            )
        await self._debit_renders(connection, user.id, job_id, amount)

    async def _debit_renders(
        self, connection: AsyncConnection, user_id: str, job_id: str, amount: int
    ) -> None:
        if amount > 0:
            await repository.move_credits(
                connection, user_id, -amount, BillingKind.RESERVE_RENDERS, job_id
            )

    async def refund_for_job(
        self, connection: AsyncConnection, user_id: str, job_id: str, amount: int
    ) -> None:
        """Give back `amount` credits of a job (once: the ledger refuses a second refund)."""
        if amount > 0:
            await repository.move_credits(connection, user_id, amount, BillingKind.REFUND, job_id)

    async def record_opening_credits(
        self, connection: AsyncConnection, user_id: str, amount: int, reason: str
    ) -> None:
        """The grant of the credits a user row was inserted with (one statement fewer than a
        later grant at every sign-up); credits = Σ billing events holds at commit."""
        await repository.record_billing_event(
            connection, user_id, amount, BillingKind.GRANT, None, reason
        )

    async def grant_credits(
        self, connection: AsyncConnection, user_id: str, amount: int, reason: str
    ) -> None:
        """Credits given outside a job: at sign-up or by an operator."""
        await repository.move_credits(connection, user_id, amount, BillingKind.GRANT, None, reason)
