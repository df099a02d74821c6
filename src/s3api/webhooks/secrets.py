"""Per-user webhook signing secrets: made on first use, replaced on rotation."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.db.models import WebhookSecret
from s3api.timeutil import utcnow
from s3api.webhooks.signing import new_secret

# built once: every delivery is signed with its user's secret, looked up here
_SECRETS = cast(Table, WebhookSecret.__table__)
_FIND_SECRET = select(_SECRETS.c.secret).where(_SECRETS.c.user_id == bindparam("user_id"))
_REPLACE_SECRET = (
    update(_SECRETS)
    .where(_SECRETS.c.user_id == bindparam("owner"))
    .values(secret=bindparam("rotated_secret"), created_at=bindparam("changed_at"))
)


def _insert_if_missing_statement(dialect_insert: Any) -> Any:
    """`INSERT … ON CONFLICT (user_id) DO NOTHING`, built once per dialect."""
    return dialect_insert(_SECRETS).on_conflict_do_nothing(index_elements=["user_id"])


_INSERT_SECRET_POSTGRESQL = _insert_if_missing_statement(postgres_insert)
_INSERT_SECRET_SQLITE = _insert_if_missing_statement(sqlite_insert)


class WebhookSecretService:
    """`GET /me/webhook-secret`, `POST /me/webhook-secret/rotate`, and the signer's lookup."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def secret_for(self, user_id: str) -> str:
        """The user's secret, made now if they have none (concurrent callers get the same one)."""
        async with self.database.transaction() as connection:
            await _insert_if_missing(connection, user_id, new_secret())
            secret = await connection.execute(_FIND_SECRET, {"user_id": user_id})
            return str(secret.scalar_one())

    async def rotate(self, user_id: str) -> str:
        """Replace the user's secret; deliveries from now on are signed with the new one."""
        secret = new_secret()
        async with self.database.transaction() as connection:
            if not await _insert_if_missing(connection, user_id, secret):
                await connection.execute(
                    _REPLACE_SECRET,
                    {"owner": user_id, "rotated_secret": secret, "changed_at": utcnow()},
                )
        return secret


async def _insert_if_missing(connection: AsyncConnection, user_id: str, secret: str) -> bool:
    """Insert the user's first secret; False when one exists already."""
    statement = (
        _INSERT_SECRET_POSTGRESQL
        if connection.dialect.name == "postgresql"
        else _INSERT_SECRET_SQLITE
    )
    result = await connection.execute(
        statement, {"user_id": user_id, "secret": secret, "created_at": utcnow()}
    )
    return bool(result.rowcount == 1)
