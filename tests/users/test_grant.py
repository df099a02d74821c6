"""The operator's `s3api grant`: credits as `grant` billing events, plan changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from s3api.cli import app as cli
from s3api.context import AppContext
from s3api.db.models import BillingEvent
from tests.support.databases import TEST_CALLBACK_SECRET, TEST_SECRET
from tests.support.factories import ApiClient


@pytest.fixture
def environment(context: AppContext, tmp_path: Path) -> dict[str, str]:
    """The environment an operator would give the CLI for the test's database."""
    return {
        "DATABASE_URL": context.settings.resolved_database_url,
        "S3API_DATA_DIR": str(tmp_path / "cli-data"),
        "JWT_SECRET": TEST_SECRET,
        "GPU_CALLBACK_SECRET": TEST_CALLBACK_SECRET,
        "LOG_LEVEL": "WARNING",
    }


async def _ledger(context: AppContext, user_id: str) -> tuple[int, int]:
    async with context.database.read() as connection:
        row = (
            await connection.execute(
                select(func.count(), func.sum(BillingEvent.amount)).where(
                    BillingEvent.user_id == user_id, BillingEvent.kind == "grant"
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_grant_adds_credits_as_a_grant_event_and_can_upgrade_the_plan(
    api: ApiClient, context: AppContext, environment: dict[str, str]
) -> None:
    user = await api.sign_in()
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["grant", user.user_id, "--credits", "50", "--plan", "pro"],
        env=environment,
    )
    assert result.exit_code == 0, result.output
    assert "credits=60" in result.output
    me = await api.me(user)
    assert (me["plan"], me["credits"], me["max_concurrency"]) == ("pro", 60, 3)
    assert await _ledger(context, user.user_id) == (2, 60)


async def test_grant_never_takes_credits_below_zero(
    api: ApiClient, context: AppContext, environment: dict[str, str]
) -> None:
    user = await api.sign_in()
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["grant", user.user_id, "--credits", "-11"], env=environment
    )
    assert result.exit_code == 1
    assert "INSUFFICIENT_CREDITS" in result.output
    assert (await api.me(user))["credits"] == 10
    assert await _ledger(context, user.user_id) == (1, 10)


async def test_grant_to_an_unknown_user_is_an_error(environment: dict[str, str]) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["grant", "00000000-0000-4000-8000-000000000000", "--credits", "5"],
        env=environment,
    )
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output
