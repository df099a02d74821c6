"""Queries on `users`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import User
from s3api.ids import is_uuid


@dataclass(frozen=True)
class UserRecord:
    """A user row as the services see it."""

    id: str
    plan: str
    credits: int


async def find_user(
    connection: AsyncConnection, user_id: str, *, lock: bool = False
) -> UserRecord | None:
    """The user, optionally locked for the rest of the transaction (`FOR UPDATE`)."""
    if not is_uuid(user_id):
        return None
    query = select(User.id, User.plan, User.credits).where(User.id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await connection.execute(query)).first()
    if row is None:
        return None
    return UserRecord(id=row.id, plan=row.plan, credits=row.credits)
