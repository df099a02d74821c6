"""Per-user webhook signing secrets: made on first use, replaced on rotation."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.db.models import WebhookSecret
from s3api.timeutil import utcnow
from s3api.webhooks.signing import new_secret


class WebhookSecretService:
    """`GET /me/webhook-secret`, `POST /me/webhook-secret/rotate`, and the signer's lookup."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def secret_for(self, user_id: str) -> str:
        """The user's secret, made now if they have none (concurrent callers get the same one)."""
        async with self.database.transaction() as connection:
            await _insert_if_missing(connection, user_id, new_secret())
            secret = await connection.execute(
                select(WebhookSecret.secret).where(WebhookSecret.user_id == user_id)
            )
            return str(secret.scalar_one())

    async def rotate(self, user_id: str) -> str:
        """Replace the user's secret; deliveries from now on are signed with the new one."""
        secret = new_secret()
        async with self.database.transaction() as connection:
            if not await _insert_if_missing(connection, user_id, secret):
                await connection.execute(
                    update(WebhookSecret)
                    .where(WebhookSecret.user_id == user_id)
                    .values(secret=secret, created_at=utcnow())
                )
        return secret


async def _insert_if_missing(connection: AsyncConnection, user_id: str, secret: str) -> bool:
    """Insert the user's first secret; False when one exists already."""
    insert = postgres_insert if connection.dialect.name == "postgresql" else sqlite_insert
    result = await connection.execute(
        insert(WebhookSecret)
        .values(user_id=user_id, secret=secret, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return bool(result.rowcount == 1)
