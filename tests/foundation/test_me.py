"""`GET /me`: the caller's account, computed from the database on every request."""

from __future__ import annotations

from sqlalchemy import update

from s3api.context import AppContext
from s3api.db.models import User
from tests.support.factories import ApiClient
from tests.support.foundation import assert_ok, rule_body

ME_FIELDS = {
    "user_id": str,
    "plan": str,
    "credits": int,
    "rule_slots": int,
    "concurrent_jobs": int,
    "max_rule_slots": int,
    "max_concurrency": int,
    "max_items_per_job": int,
}


async def test_me_has_every_field_with_its_type(api: ApiClient) -> None:
    user = await api.sign_in()
    data = assert_ok(await api.http.get("/me", headers=user.headers))
    for field, kind in ME_FIELDS.items():
        assert type(data[field]) is kind, (field, data)


async def test_new_free_user_has_ten_credits_and_free_limits(api: ApiClient) -> None:
    user = await api.sign_in()
    expected = {
        "user_id": user.user_id,
        "plan": "free",
        "credits": 10,
        "rule_slots": 0,
        "concurrent_jobs": 0,
        "max_rule_slots": 2,
        "max_concurrency": 1,
        "max_items_per_job": 10,
    }
    data = await api.me(user)
    assert {field: data[field] for field in expected} == expected


async def test_credits_are_read_from_the_database(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user.user_id).values(credits=37))
    assert (await api.me(user))["credits"] == 37


async def test_plan_is_read_from_the_database_not_the_token(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user.user_id).values(plan="pro"))
    data = await api.me(user)
    assert data["plan"] == "pro"
    assert (data["max_rule_slots"], data["max_concurrency"], data["max_items_per_job"]) == (
        20,
        3,
        200,
    )


async def test_rule_slots_counts_the_callers_rules(api: ApiClient) -> None:
    user = await api.sign_in()
    other = await api.sign_in()
    response = await api.http.post("/rules", json=rule_body(), headers=user.headers)
    assert response.status_code == 201, response.text
    assert (await api.me(user))["rule_slots"] == 1
    assert (await api.me(other))["rule_slots"] == 0


async def test_concurrent_jobs_counts_active_jobs(api: ApiClient) -> None:
    user = await api.sign_in()
    await api.create_job(user, item_count=3)
    data = await api.me(user)
    assert data["concurrent_jobs"] == 1
    assert data["credits"] == 7


async def test_me_describes_only_the_caller(api: ApiClient) -> None:
    first = await api.sign_in()
    second = await api.sign_in()
    assert (await api.me(first))["user_id"] == first.user_id
    assert (await api.me(second))["user_id"] == second.user_id
