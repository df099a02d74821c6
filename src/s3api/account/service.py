"""Account state, computed from the database on every call, the operator's grant, and
deleting an account with everything it stored."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.account.schemas import AccountDeleted, AccountState
from s3api.db.engine import Database
from s3api.db.models import User
from s3api.errors import ApiError, ErrorCode
from s3api.ids import is_uuid
from s3api.jobs import removal_repository
from s3api.jobs import repository as jobs_repository
from s3api.jobs.lifecycle import JobLifecycle
from s3api.jobs.output_sets import repository as sets_repository
from s3api.rules import repository as rules_repository
from s3api.storage.base import ObjectStorage
from s3api.users import repository as users_repository
from s3api.users.limits import UserLimiter
from s3api.users.plans import Plan
from s3api.users.repository import UserRecord

# `GET /me` in one statement (one snapshot, one round trip), built once
_ACCOUNT_ROW = select(
    User.id,
    User.plan,
    User.credits,
    rules_repository.rule_slots_in_use(User.id).label("rule_slots"),
    jobs_repository.active_jobs_of(User.id).label("concurrent_jobs"),
).where(User.id == bindparam("user_id"))


class AccountService:
    """`GET /me`, `DELETE /me` and `s3api grant`: the user with the limits of their plan."""

    def __init__(
        self,
        database: Database,
        limiter: UserLimiter,
        lifecycle: JobLifecycle,
        storage: ObjectStorage,
    ) -> None:
        self.database = database
        self.limiter = limiter
        self.lifecycle = lifecycle
        self.storage = storage

    async def account_state_of(self, user_id: str) -> AccountState | None:
        """Credits, rule slots in use and active jobs of a verified token's user, read in one
        statement; `None` when the user no longer exists."""
        if not is_uuid(user_id):
            return None
        row = await self.database.fetch_row(_ACCOUNT_ROW, {"user_id": user_id})
        if row is None:
            return None
        found_id, plan, credits, rule_slots, concurrent_jobs = row
        user = UserRecord(id=found_id, plan=Plan.parse(plan), credits=int(credits))
        limits = self.limiter.limits_for(user)
        return AccountState(
            user_id=user.id,
            plan=user.plan.value,
            credits=user.credits,
            rule_slots=int(rule_slots),
            concurrent_jobs=int(concurrent_jobs),
            max_rule_slots=limits.max_rule_slots,
            max_concurrency=limits.max_concurrency,
            max_items_per_job=limits.max_items_per_job,
        )

    async def grant_credits(
        self, user_id: str, amount: int, plan: Plan | None, reason: str
    ) -> AccountState:
        """Operator action: add (or take back) credits and optionally change the plan."""
        async with self.database.transaction() as connection:
            user = await users_repository.find_user(connection, user_id, lock=True)
            if user is None:
                raise ApiError(ErrorCode.NOT_FOUND, "No such user")
            if user.credits + amount < 0:
                raise ApiError(
                    ErrorCode.INSUFFICIENT_CREDITS,
                    f"The user has {user.credits} credits; cannot take back {-amount}",
                )
            if amount:
                await self.limiter.grant_credits(connection, user_id, amount, reason)
            if plan is not None and plan is not user.plan:
                await users_repository.set_plan(connection, user_id, plan)
            updated = await users_repository.find_user(connection, user_id)
            assert updated is not None
            return await self._state(connection, updated)

    async def delete_account(self, user_id: str) -> AccountDeleted:
        """Cancel and refund active jobs, then delete the user, their jobs and rules and
        every object their jobs stored, at once; the ledger stays for accounting."""
        async with self.database.read() as connection:
            active = await jobs_repository.active_job_ids(connection, user_id)
        for job_id in active:
            # one job at a time, locked in the order result callbacks lock (job, then user)
            try:
                await self.lifecycle.cancel_job(user_id, job_id)
            except ApiError as exc:
                if exc.code is not ErrorCode.JOB_INVALID_TRANSITION:
                    raise
        async with self.database.transaction() as connection:
            await self.limiter.lock_user(connection, user_id)
            # jobs created while the loop above ran
            await self.lifecycle.cancel_active_jobs(connection, user_id)
            keys = await removal_repository.object_keys_of_user(connection, user_id)
            keys += await sets_repository.object_keys_of_user(connection, user_id)
            await users_repository.delete_user(connection, user_id)
            # before the commit: a failing store keeps the account, so deletion can be retried
            await self.storage.delete_many(keys)
        return AccountDeleted(deleted=True)

    async def _state(self, connection: AsyncConnection, user: UserRecord) -> AccountState:
        limits = self.limiter.limits_for(user)
        return AccountState(
            user_id=user.id,
            plan=user.plan,
            credits=user.credits,
            rule_slots=await rules_repository.count_rules(connection, user.id),
            concurrent_jobs=await jobs_repository.count_active_jobs(connection, user.id),
            max_rule_slots=limits.max_rule_slots,
            max_concurrency=limits.max_concurrency,
            max_items_per_job=limits.max_items_per_job,
        )
