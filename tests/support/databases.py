"""Test databases and settings: the PostgreSQL admin connection, truncation, test secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import text

from s3api.context import AppContext
from s3api.db.engine import Database
from s3api.db.models import Base
from s3api.settings import Settings

POSTGRES_ADMIN_DSN = os.environ.get(
    "S3API_TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
TEST_CALLBACK_SECRET = "test-callback-secret-long-enough-0123456789"
TEST_DEVICE_HASH_SECRET = "test-device-hash-secret-long-enough-0123456789"
# generous budgets: the rate-limit tests set their own
TEST_GENEROUS_RATE = "100000/minute"
BACKENDS = ["sqlite", "postgres"]


async def postgres_admin(sql: str) -> None:
    """Run one statement as the PostgreSQL administrator (create or drop a database)."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def truncate_postgres(url: str) -> None:
    """Empty every table of a migrated PostgreSQL test database."""
    database = Database(url)
    try:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with database.transaction() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await database.dispose()


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: explicit secrets, no background loop, no embedded worker."""
    values: dict[str, Any] = {
        "s3api_data_dir": data_dir,
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "gpu_callback_secret": TEST_CALLBACK_SECRET,
        "device_hash_secret": TEST_DEVICE_HASH_SECRET,
        "public_base_url": "http://testserver",
        "run_background": False,
        "embedded_worker": False,
        "anon_signup_rate": TEST_GENEROUS_RATE,
        "user_write_rate": TEST_GENEROUS_RATE,
        "analysis_enabled": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def application_context(application: FastAPI) -> AppContext:
    """The context an app was built with."""
    context: AppContext = application.state.context
    return context
