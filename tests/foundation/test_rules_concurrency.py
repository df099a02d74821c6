"""Rule slots: concurrent creates never exceed the plan, and a delete frees a slot at once."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from s3api.context import AppContext
from s3api.db.models import Rule, User
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok, count_rows, rule_body


async def test_twenty_concurrent_creates_by_a_free_user_make_exactly_two_rules(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    responses = await asyncio.gather(
        *(
            api.http.post("/rules", json=rule_body(name=f"r{n}"), headers=user.headers)
            for n in range(20)
        )
    )
    created = [response for response in responses if response.status_code == 201]
    refused = [response for response in responses if response.status_code != 201]
    assert len(created) == 2
    for response in refused:
        assert_error(response, 403, "RULE_SLOT_LIMIT")
    assert await count_rows(context, Rule, Rule.user_id == user.user_id) == 2
    assert (await api.me(user))["rule_slots"] == 2


async def test_create_beyond_the_free_slots_is_403_rule_slot_limit(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    for n in range(2):
        assert_ok(
            await api.http.post("/rules", json=rule_body(name=f"r{n}"), headers=user.headers), 201
        )
    response = await api.http.post("/rules", json=rule_body(name="third"), headers=user.headers)
    assert_error(response, 403, "RULE_SLOT_LIMIT")
    assert await count_rows(context, Rule) == 2


async def test_deleting_a_rule_frees_its_slot_at_once(api: ApiClient) -> None:
    user = await api.sign_in()
    ids = []
    for n in range(2):
        response = await api.http.post("/rules", json=rule_body(name=f"r{n}"), headers=user.headers)
        ids.append(assert_ok(response, 201)["rule"]["id"])
    assert (await api.me(user))["rule_slots"] == 2
    assert_ok(await api.http.delete(f"/rules/{ids[0]}", headers=user.headers))
    assert (await api.me(user))["rule_slots"] == 1
    response = await api.http.post("/rules", json=rule_body(name="again"), headers=user.headers)
    assert_ok(response, 201)
    assert (await api.me(user))["rule_slots"] == 2


async def test_slots_are_counted_per_user(api: ApiClient) -> None:
    first = await api.sign_in()
    second = await api.sign_in()
    for user in (first, first, second, second):
        response = await api.http.post("/rules", json=rule_body(), headers=user.headers)
        assert_ok(response, 201)
    assert (await api.me(first))["rule_slots"] == 2
    assert (await api.me(second))["rule_slots"] == 2


async def test_pro_plan_from_the_database_raises_the_slot_limit(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user.user_id).values(plan="pro"))
    responses = await asyncio.gather(
        *(api.http.post("/rules", json=rule_body(), headers=user.headers) for _ in range(22))
    )
    codes = sorted(response.status_code for response in responses)
    assert codes == [201] * 20 + [403] * 2
    assert await count_rows(context, Rule) == 20


async def test_concurrent_deletes_of_one_rule_succeed_once(api: ApiClient) -> None:
    user = await api.sign_in()
    created = assert_ok(await api.http.post("/rules", json=rule_body(), headers=user.headers), 201)[
        "rule"
    ]
    responses = await asyncio.gather(
        *(api.http.delete(f"/rules/{created['id']}", headers=user.headers) for _ in range(8))
    )
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [404] * 7
    assert (await api.me(user))["rule_slots"] == 0


async def test_concurrent_delete_and_creates_never_exceed_the_slots(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    ids = []
    for n in range(2):
        response = await api.http.post("/rules", json=rule_body(name=f"r{n}"), headers=user.headers)
        ids.append(assert_ok(response, 201)["rule"]["id"])
    creates = [
        api.http.post("/rules", json=rule_body(name=f"c{n}"), headers=user.headers)
        for n in range(6)
    ]
    delete = api.http.delete(f"/rules/{ids[0]}", headers=user.headers)
    results = await asyncio.gather(delete, *creates)
    assert results[0].status_code == 200
    assert [response.status_code for response in results[1:]].count(201) <= 1
    assert await count_rows(context, Rule) <= 2
