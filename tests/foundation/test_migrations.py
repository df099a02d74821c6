"""Alembic migrations: head builds the whole schema on both backends and is idempotent."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from s3api.app import create_app
from s3api.db.engine import Database
from s3api.db.migrate import alembic_config, upgrade_to, upgrade_to_head
from s3api.db.models import Base
from tests.support.databases import BACKENDS, POSTGRES_ADMIN_DSN, make_settings, postgres_admin

EXPECTED_TABLES = {
    "users",
    "rules",
    "jobs",
    "job_items",
    "billing_events",
    "queue_messages",
    "dead_letters",
}
EXPECTED_INDEXES = {
    "rules": ("ix_rules_user_created", ["user_id", "created_at"]),
    "jobs": ("ix_jobs_user_created", ["user_id", "created_at"]),
    "billing_events": ("ix_billing_events_user_created", ["user_id", "created_at"]),
}


@pytest.fixture(params=BACKENDS)
async def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables at all, on each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        yield database
        await database.dispose()
        return
    name = f"s3api_mig_{uuid.uuid4().hex[:12]}"
    try:
        await postgres_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI ({type(exc).__name__})")
        pytest.skip(f"PostgreSQL not reachable ({type(exc).__name__})")
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    database = Database(f"{base}/{name}")
    yield database
    await database.dispose()
    await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _schema(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    return {
        "tables": tables,
        "indexes": {table: inspector.get_indexes(table) for table in tables},
        "unique": {table: inspector.get_unique_constraints(table) for table in tables},
    }


async def _inspect(database: Database) -> dict[str, Any]:
    async with database.engine.connect() as connection:
        schema: dict[str, Any] = await connection.run_sync(_schema)
        return schema


async def test_head_creates_every_table(fresh_database: Database) -> None:
    assert (await _inspect(fresh_database))["tables"] == set()
    await upgrade_to_head(fresh_database)
    assert (await _inspect(fresh_database))["tables"] >= EXPECTED_TABLES


async def test_head_creates_the_listing_indexes(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    indexes = (await _inspect(fresh_database))["indexes"]
    for table, (name, columns) in EXPECTED_INDEXES.items():
        found = {index["name"]: index["column_names"] for index in indexes[table]}
        assert found.get(name) == columns, (table, found)


async def test_device_hash_is_unique(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    schema = await _inspect(fresh_database)
    unique_sets = [entry["column_names"] for entry in schema["unique"]["users"]]
    unique_sets += [
        index["column_names"] for index in schema["indexes"]["users"] if index.get("unique")
    ]
    assert ["device_hash"] in unique_sets


async def test_duplicate_device_hash_is_refused_by_the_database(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    insert = text(
        "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
        "VALUES (:id, 'same', 'free', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    async with fresh_database.transaction() as connection:
        await connection.execute(insert, {"id": "u1"})
    with pytest.raises(IntegrityError):
        async with fresh_database.transaction() as connection:
            await connection.execute(insert, {"id": "u2"})


async def test_upgrading_twice_is_a_no_op(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    async with fresh_database.transaction() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
                "VALUES ('kept', NULL, 'free', 7, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    before = await _inspect(fresh_database)
    await upgrade_to_head(fresh_database)
    after = await _inspect(fresh_database)
    assert after["tables"] == before["tables"]
    assert after["indexes"] == before["indexes"]
    async with fresh_database.read() as connection:
        credits = (await connection.execute(text("SELECT credits FROM users"))).scalars().all()
        versions = (
            (await connection.execute(text("SELECT version_num FROM alembic_version")))
            .scalars()
            .all()
        )
    assert list(credits) == [7]
    head = ScriptDirectory.from_config(alembic_config(fresh_database.url)).get_current_head()
    assert list(versions) == [head]


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    async with fresh_database.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_concurrent_upgrades_both_succeed(fresh_database: Database) -> None:
    await asyncio.gather(upgrade_to_head(fresh_database), upgrade_to_head(fresh_database))
    assert (await _inspect(fresh_database))["tables"] >= EXPECTED_TABLES


async def test_app_migrates_its_sqlite_database_on_startup(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}"
    application = create_app(make_settings(tmp_path / "data", url))
    async with application.router.lifespan_context(application):
        pass
    database = Database(url)
    try:
        assert (await _inspect(database))["tables"] >= EXPECTED_TABLES
    finally:
        await database.dispose()


async def test_a_database_made_before_the_renames_upgrades_with_its_rows(
    fresh_database: Database,
) -> None:
    await upgrade_to(fresh_database, "0001")
    job_id = str(uuid.uuid4())
    rows = [
        "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
        "VALUES ('u1', NULL, 'free', 8, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO jobs_log (id, user_id, preset, status, total_items, done_items, "
        "failed_items, refunded, created_at, updated_at) VALUES "
        "(:job, 'u1', 'interior', 'queued', 1, 0, 0, 0, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)",
        "INSERT INTO job_items_log (job_id, idx, status, input_key, output_key, preview_key, "
        "created_at, updated_at) VALUES (:job, 0, 'pending', 'in', 'out', 'pre', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO queue_messages (id, queue, job_id, body, attempts, available_at, "
        "created_at_ms) VALUES ('m1', 'gpu-jobs', :job, '{}', 0, 0, 0)",
        "INSERT INTO dead_letters (id, queue, job_id, body, attempts, created_at) "
        "VALUES ('d1', 'gpu-jobs', :job, '{}', 4, CURRENT_TIMESTAMP)",
    ]
    async with fresh_database.transaction() as connection:
        for statement in rows:
            await connection.execute(text(statement), {"job": job_id})
    await upgrade_to_head(fresh_database)
    async with fresh_database.read() as connection:
        job = (await connection.execute(text("SELECT status FROM jobs"))).scalar_one()
        item = (await connection.execute(text("SELECT job_id FROM job_items"))).scalar_one()
        message = (
            await connection.execute(text("SELECT subject_id FROM queue_messages"))
        ).scalar_one()
        dead = (await connection.execute(text("SELECT subject_id FROM dead_letters"))).scalar_one()
    assert (job, item, message, dead) == ("queued", job_id, job_id, job_id)
    tables = (await _inspect(fresh_database))["tables"]
    assert not tables & {"jobs_log", "job_items_log", "queue_messages_before"}


async def test_a_database_at_0002_upgrades_with_its_rows_and_the_ledger_outlives_users(
    fresh_database: Database,
) -> None:
    await upgrade_to(fresh_database, "0002")
    job_id = str(uuid.uuid4())
    rows = [
        "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
        "VALUES ('u1', 'dev', 'free', 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO jobs (id, user_id, preset, status, total_items, done_items, "
        "failed_items, refunded, created_at, updated_at) VALUES "
        "(:job, 'u1', 'interior', 'done', 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO billing_events (id, user_id, job_id, kind, amount, created_at) VALUES "
        "('b1', 'u1', :job, 'reserve', -1, CURRENT_TIMESTAMP)",
    ]
    async with fresh_database.transaction() as connection:
        for statement in rows:
            await connection.execute(text(statement), {"job": job_id})
    await upgrade_to_head(fresh_database)
    async with fresh_database.transaction() as connection:
        job = (
            await connection.execute(text("SELECT status, parent_job_id, expired_at FROM jobs"))
        ).one()
        await connection.execute(text("DELETE FROM users WHERE id = 'u1'"))
    async with fresh_database.read() as connection:
        ledger = (await connection.execute(text("SELECT id, user_id FROM billing_events"))).all()
        jobs = (await connection.execute(text("SELECT count(*) FROM jobs"))).scalar_one()
    assert tuple(job) == ("done", None, None)
    assert [tuple(row) for row in ledger] == [("b1", "u1")]
    assert jobs == 0
    assert "billing_events_before" not in (await _inspect(fresh_database))["tables"]


async def test_0003_downgrades_to_0002_keeping_jobs_and_items(fresh_database: Database) -> None:
    await upgrade_to_head(fresh_database)
    rows = [
        "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
        "VALUES ('u1', NULL, 'free', 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO jobs (id, user_id, preset, status, total_items, done_items, "
        "failed_items, refunded, created_at, updated_at) VALUES "
        "('j1', 'u1', 'interior', 'done', 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO job_items (job_id, idx, status, input_key, output_key, preview_key, "
        "created_at, updated_at) VALUES ('j1', 0, 'done', 'in', 'out', 'pre', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ]
    async with fresh_database.transaction() as connection:
        for statement in rows:
            await connection.execute(text(statement))

    def downgrade(connection: Connection) -> None:
        config = alembic_config(fresh_database.url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")

    async with fresh_database.engine.begin() as connection:
        await connection.run_sync(downgrade)
    tables = (await _inspect(fresh_database))["tables"]
    assert "idempotency_keys" not in tables
    assert "billing_events" in tables
    async with fresh_database.read() as connection:
        items = (await connection.execute(text("SELECT job_id FROM job_items"))).all()
    assert [tuple(row) for row in items] == [("j1",)]


async def test_0005_rewrites_each_rule_to_the_protect_list_it_applied(
    fresh_database: Database,
) -> None:
    await upgrade_to(fresh_database, "0004")
    rules = {
        "r-empty": ("interior", {"Floor": {"action": "remove"}}, []),
        "r-grout-edited": ("interior", {"Grout": {"action": "remove"}}, ["Door"]),
        "r-seller": ("seller", {"Body": {"action": "remove"}}, ["Logo"]),
        "r-custom": ("custom", {"the sofa": {"action": "remove"}}, ["the lamp"]),
    }
    async with fresh_database.transaction() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
                "VALUES ('u1', NULL, 'free', 8, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for rule_id, (preset_id, concepts, protect) in rules.items():
            await connection.execute(
                text(
                    "INSERT INTO rules (id, user_id, name, preset_id, concepts, protect, "
                    "created_at, updated_at) VALUES (:id, 'u1', 'r', :preset, :concepts, "
                    ":protect, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": rule_id,
                    "preset": preset_id,
                    "concepts": json.dumps(concepts),
                    "protect": json.dumps(protect),
                },
            )
    await upgrade_to_head(fresh_database)
    async with fresh_database.read() as connection:
        rows = (await connection.execute(text("SELECT id, protect FROM rules"))).all()
    stored = {rule_id: _json(protect) for rule_id, protect in rows}
    assert stored == {
        "r-empty": ["Grout", "Frame_Molding", "Glass_highlight"],
        "r-grout-edited": ["Door", "Frame_Molding", "Glass_highlight"],
        "r-seller": ["Logo", "Label_Text", "Gloss"],
        "r-custom": ["the lamp"],
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def test_jobs_made_before_0006_output_format_read_png(fresh_database: Database) -> None:
    await upgrade_to(fresh_database, "0004")
    rows = [
        "INSERT INTO users (id, device_hash, plan, credits, created_at, updated_at) "
        "VALUES ('u1', NULL, 'free', 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO jobs (id, user_id, preset, status, total_items, done_items, "
        "failed_items, refunded, created_at, updated_at) VALUES "
        "('j1', 'u1', 'interior', 'done', 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ]
    async with fresh_database.transaction() as connection:
        for statement in rows:
            await connection.execute(text(statement))
    await upgrade_to(fresh_database, "0006")
    async with fresh_database.read() as connection:
        formats = (await connection.execute(text("SELECT output_format FROM jobs"))).all()
    assert [tuple(row) for row in formats] == [("png",)]
