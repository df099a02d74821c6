"""The hot read paths cost one statement each, and stay live: a deleted user's token is
refused and credits are read fresh."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, event, update

from s3api.context import AppContext
from s3api.db.models import User
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok, rule_body


@contextmanager
def recorded_statements(context: AppContext) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs (transaction control aside),
    through SQLAlchemy or straight to the driver."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2]).strip()
        if statement.upper() not in {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"}:
            statements.append(statement)

    engine = context.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    context.database.on_driver_statement = lambda statement: record(None, None, statement)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
        context.database.on_driver_statement = None


async def test_me_is_one_statement(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    with recorded_statements(context) as statements:
        data = assert_ok(await api.http.get("/me", headers=user.headers))
    assert data["user_id"] == user.user_id
    assert len(statements) == 1, statements


async def test_the_token_check_is_one_read(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    with recorded_statements(context) as statements:
        assert_ok(await api.http.get("/presets", headers=user.headers))
    assert len(statements) == 1, statements
    assert "users" in statements[0]


async def test_a_deleted_users_token_is_refused(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    assert_ok(await api.http.get("/me", headers=user.headers))
    async with context.database.transaction() as connection:
        await connection.execute(delete(User).where(User.id == user.user_id))
    assert_error(await api.http.get("/me", headers=user.headers), 401, "AUTH_INVALID_TOKEN")
    assert_error(await api.http.get("/presets", headers=user.headers), 401, "AUTH_INVALID_TOKEN")


async def test_me_counts_credits_rules_and_jobs_live(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    assert_ok(await api.http.post("/rules", json=rule_body(), headers=user.headers), 201)
    assert_ok(
        await api.http.post(
            "/jobs", json={"preset": "interior", "item_count": 1}, headers=user.headers
        ),
        201,
    )
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user.user_id).values(credits=3))
    data = await api.me(user)
    assert (data["credits"], data["rule_slots"], data["concurrent_jobs"]) == (3, 1, 1)
