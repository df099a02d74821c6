"""Apply Alembic migrations programmatically (used by `s3api migrate` and `serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from s3api.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK = 0x53334150  # "S3AP"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(database: Database) -> None:
    """Bring the schema up to date, inside one transaction where the backend allows."""
    await upgrade_to(database, "head")


async def upgrade_to(database: Database, revision: str) -> None:
    """Migrate up to `revision`, inside one transaction where the backend allows."""

    def _upgrade(connection: Connection) -> None:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.engine.begin() as connection:
        if not database.is_sqlite:
            # several server processes may start at once: one migrates, the others wait
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        await connection.run_sync(_upgrade)
