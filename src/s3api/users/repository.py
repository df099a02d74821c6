"""Queries on `users` and the credit ledger, `billing_events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.engine import Database
from s3api.db.models import BillingEvent, User
from s3api.ids import is_uuid, new_id
from s3api.observability import metrics
from s3api.timeutil import utcnow
from s3api.users.plans import Plan


class BillingKind(StrEnum):
    """Why credits moved; a job has at most one of each job kind: `reserve` (one per photo,
    at create), `reserve_renders` (the renders past each photo's first, drafts or options,
    when queued with such a template) and `refund` (at settlement)."""

    GRANT = "grant"
    RESERVE = "reserve"
    RESERVE_RENDERS = "reserve_renders"
    REFUND = "refund"


@dataclass(frozen=True)
class UserRecord:
    """A user row as the services see it."""

    id: str
    plan: Plan
    credits: int


# built once: the token check runs this on every authenticated request
_FIND_USER = select(User.id, User.plan, User.credits).where(User.id == bindparam("user_id"))
_FIND_USER_FOR_UPDATE = _FIND_USER.with_for_update()


async def find_user(
    connection: AsyncConnection, user_id: str, *, lock: bool = False
) -> UserRecord | None:
    """The user, optionally locked for the rest of the transaction (`FOR UPDATE`)."""
    if not is_uuid(user_id):
        return None
    query = _FIND_USER_FOR_UPDATE if lock else _FIND_USER
    row = (await execute(connection, query, {"user_id": user_id})).first()
    if row is None:
        return None
    return UserRecord(id=row.id, plan=Plan.parse(row.plan), credits=row.credits)


# built once: every sign-up, job and refund moves credits
_USERS = cast(Table, User.__table__)
_INSERT_BILLING_EVENT = insert(cast(Table, BillingEvent.__table__))
_ADD_CREDITS = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("target_user"))
    .values(
        credits=_USERS.c.credits + bindparam("amount_added"),
        updated_at=bindparam("changed_at"),
    )
)
_SET_PLAN = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("target_user"))
    .values(plan=bindparam("new_plan"), updated_at=bindparam("changed_at"))
)
_DELETE_USER = delete(_USERS).where(_USERS.c.id == bindparam("target_user"))


async def fetch_user(database: Database, user_id: str) -> UserRecord | None:
    """`find_user` outside any transaction, in one call into the driver (the token check)."""
    if not is_uuid(user_id):
        return None
    row = await database.fetch_row(_FIND_USER, {"user_id": user_id})
    if row is None:
        return None
    user_id_found, plan, credits = row
    return UserRecord(id=user_id_found, plan=Plan.parse(plan), credits=int(credits))


async def set_plan(connection: AsyncConnection, user_id: str, plan: Plan) -> None:
    """Move the user to another plan."""
    await execute(
        connection,
        _SET_PLAN,
        {"target_user": user_id, "new_plan": plan.value, "changed_at": utcnow()},
    )


async def move_credits(
    connection: AsyncConnection,
    user_id: str,
    amount: int,
    kind: BillingKind,
    job_id: str | None,
    reason: str | None = None,
) -> None:
    """One ledger row and the matching balance change, so credits = Σ billing events."""
    now = await record_billing_event(connection, user_id, amount, kind, job_id, reason)
    await execute(
        connection,
        _ADD_CREDITS,
        {"target_user": user_id, "amount_added": amount, "changed_at": now},
    )


async def record_billing_event(
    connection: AsyncConnection,
    user_id: str,
    amount: int,
    kind: BillingKind,
    job_id: str | None,
    reason: str | None = None,
) -> datetime:
    """The ledger row alone, for a balance already set in the same transaction (a new user's
    row); returns its time."""
    now = utcnow()
    await execute(
        connection,
        _INSERT_BILLING_EVENT,
        {
            "id": new_id(),
            "user_id": user_id,
            "job_id": job_id,
            "kind": kind.value,
            "amount": amount,
            "reason": reason,
            "created_at": now,
        },
    )
    metrics.count_credits_moved(connection, kind.value, amount)
    return now


async def delete_user(connection: AsyncConnection, user_id: str) -> None:
    """The user row; jobs, items, rules and remembered answers go with it by cascade.

    Ledger rows keep the bare user id, which no longer leads to a device hash.
    """
    await execute(connection, _DELETE_USER, {"target_user": user_id})
