"""UserLimiter: credits, concurrency slots and rule slots of one user.

The original kept these in a per-user Durable Object. Here every check and movement runs
inside the caller's transaction, after the user's row is locked, so concurrent requests
of one user are serialised by the database and nothing lives only in memory. Concurrency
and rule slots are counted from `jobs_log` and `rules`, never kept as separate counters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import BillingEvent, JobLog, Rule, User
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.jobs.states import ACTIVE
from s3api.observability import metrics
from s3api.settings import PlanLimits, Settings
from s3api.timeutil import utcnow
from s3api.users.repository import UserRecord, find_user


@dataclass(frozen=True)
class UserState:
    """What `/me` reports."""

    user_id: str
    plan: str
    credits: int
    rule_slots: int
    concurrent_jobs: int
    limits: PlanLimits


class UserLimiter:
    """Enforces a plan's limits; every method runs inside the caller's transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def limits_for(self, user: UserRecord) -> PlanLimits:
        """The limits of the user's current plan."""
        return self.settings.plan_limits(user.plan)

    async def lock_user(self, connection: AsyncConnection, user_id: str) -> UserRecord:
        """Lock the user's row for the rest of the transaction and return it."""
        user = await find_user(connection, user_id, lock=True)
        if user is None:
            raise ApiError(ErrorCode.AUTH_INVALID_TOKEN)
        return user

    async def user_state(self, connection: AsyncConnection, user: UserRecord) -> UserState:
        """Credits and slots in use, computed from the database."""
        rule_slots = await self._count_rules(connection, user.id)
        active_jobs = await self._count_active_jobs(connection, user.id)
        return UserState(
            user_id=user.id,
            plan=user.plan,
            credits=user.credits,
            rule_slots=rule_slots,
            concurrent_jobs=active_jobs,
            limits=self.limits_for(user),
        )

    async def claim_rule_slot(self, connection: AsyncConnection, user: UserRecord) -> None:
        """Raise `RULE_SLOT_LIMIT` unless the (locked) user has a free rule slot."""
        if await self._count_rules(connection, user.id) >= self.limits_for(user).max_rule_slots:
            raise ApiError(ErrorCode.RULE_SLOT_LIMIT)

    async def reserve_for_job(
        self, connection: AsyncConnection, user: UserRecord, job_id: str, item_count: int
    ) -> None:
        """Check item, concurrency and credit limits in API order, then debit the credits."""
        limits = self.limits_for(user)
        if item_count > limits.max_items_per_job:
            raise ApiError(
                ErrorCode.ITEM_LIMIT,
                f"Your plan allows at most {limits.max_items_per_job} items per job",
                {"max_items_per_job": limits.max_items_per_job},
            )
        if await self._count_active_jobs(connection, user.id) >= limits.max_concurrency:
            raise ApiError(
                ErrorCode.CONCURRENCY_LIMIT, details={"max_concurrency": limits.max_concurrency}
            )
        if user.credits < item_count:
            raise ApiError(
                ErrorCode.INSUFFICIENT_CREDITS,
                details={"credits": user.credits, "required": item_count},
            )
        await self._move_credits(connection, user.id, -item_count, "reserve", job_id)

    async def refund_for_job(
        self, connection: AsyncConnection, user_id: str, job_id: str, amount: int
    ) -> None:
        """Give back `amount` credits of a job (once: the ledger refuses a second refund)."""
        if amount > 0:
            await self._move_credits(connection, user_id, amount, "refund", job_id)

    async def grant_credits(
        self, connection: AsyncConnection, user_id: str, amount: int, reason: str
    ) -> None:
        """Credits given outside a job: at sign-up or by an operator."""
        await self._move_credits(connection, user_id, amount, "grant", None, reason)

    async def _move_credits(
        self,
        connection: AsyncConnection,
        user_id: str,
        amount: int,
        kind: str,
        job_id: str | None,
        reason: str | None = None,
    ) -> None:
        now = utcnow()
        await connection.execute(
            insert(BillingEvent).values(
                id=new_id(),
                user_id=user_id,
                job_id=job_id,
                kind=kind,
                amount=amount,
                reason=reason,
                created_at=now,
            )
        )
        await connection.execute(
            update(User)
            .where(User.id == user_id)
            .values(credits=User.credits + amount, updated_at=now)
        )
        metrics.count_credits_moved(connection, kind, amount)

    @staticmethod
    async def _count_rules(connection: AsyncConnection, user_id: str) -> int:
        query = select(func.count()).select_from(Rule).where(Rule.user_id == user_id)
        return int((await connection.execute(query)).scalar_one())

    @staticmethod
    async def _count_active_jobs(connection: AsyncConnection, user_id: str) -> int:
        query = (
            select(func.count())
            .select_from(JobLog)
            .where(JobLog.user_id == user_id, JobLog.status.in_([s.value for s in ACTIVE]))
        )
        return int((await connection.execute(query)).scalar_one())
