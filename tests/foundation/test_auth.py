"""`POST /auth/anon`: anonymous sign-in, one user per device hash even under races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
from sqlalchemy import select

from s3api.context import AppContext
from s3api.db.models import BillingEvent, User
from tests.support.databases import TEST_SECRET
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok, count_rows


async def test_sign_in_answers_user_id_token_plan_and_is_new(api: ApiClient) -> None:
    data = assert_ok(
        await api.http.post("/auth/anon", json={"device_hash": "device-a-0123456789abcdef"})
    )
    assert set(data) >= {"user_id", "token", "plan", "is_new"}
    assert isinstance(data["user_id"], str)
    assert data["user_id"]
    assert isinstance(data["token"], str)
    assert data["plan"] == "free"
    assert data["is_new"] is True


async def test_token_is_hs256_with_sub_iat_and_thirty_day_exp(api: ApiClient) -> None:
    data = assert_ok(await api.http.post("/auth/anon"))
    assert jwt.get_unverified_header(data["token"])["alg"] == "HS256"
    claims = jwt.decode(data["token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == data["user_id"]
    assert claims["exp"] - claims["iat"] == int(timedelta(days=30).total_seconds())
    assert "plan" not in claims


async def test_issued_token_authenticates_the_user(api: ApiClient) -> None:
    user = await api.sign_in()
    assert (await api.me(user))["user_id"] == user.user_id


async def test_same_device_hash_returns_same_user_not_new(
    api: ApiClient, context: AppContext
) -> None:
    first = assert_ok(
        await api.http.post("/auth/anon", json={"device_hash": "device-b-0123456789abcdef"})
    )
    second = assert_ok(
        await api.http.post("/auth/anon", json={"device_hash": "device-b-0123456789abcdef"})
    )
    assert second["user_id"] == first["user_id"]
    assert second["is_new"] is False
    response = await api.http.get("/me", headers={"Authorization": f"Bearer {second['token']}"})
    assert assert_ok(response)["user_id"] == first["user_id"]
    assert await count_rows(context, User) == 1


async def test_returning_device_is_not_granted_sign_up_credits_again(
    api: ApiClient, context: AppContext
) -> None:
    first = assert_ok(
        await api.http.post("/auth/anon", json={"device_hash": "device-c-0123456789abcdef"})
    )
    assert_ok(await api.http.post("/auth/anon", json={"device_hash": "device-c-0123456789abcdef"}))
    grants = BillingEvent.user_id == first["user_id"]
    assert await count_rows(context, BillingEvent, grants) == 1
    async with context.database.read() as connection:
        credits = (
            await connection.execute(select(User.credits).where(User.id == first["user_id"]))
        ).scalar_one()
    assert credits == 10


async def test_ten_concurrent_sign_ins_with_one_new_device_hash_create_one_user(
    api: ApiClient, context: AppContext
) -> None:
    responses = await asyncio.gather(
        *(
            api.http.post("/auth/anon", json={"device_hash": "racing-device-0123456789abcdef"})
            for _ in range(10)
        )
    )
    sessions = [assert_ok(response) for response in responses]
    assert len({session["user_id"] for session in sessions}) == 1
    assert [session["is_new"] for session in sessions].count(True) == 1
    assert await count_rows(context, User) == 1
    assert await count_rows(context, BillingEvent) == 1


async def test_sign_in_without_device_hash_creates_a_new_user_each_time(
    api: ApiClient, context: AppContext
) -> None:
    ids = set()
    for _ in range(3):
        data = assert_ok(await api.http.post("/auth/anon"))
        assert data["is_new"] is True
        ids.add(data["user_id"])
    assert len(ids) == 3
    assert await count_rows(context, User) == 3


async def test_concurrent_sign_ins_without_device_hash_create_distinct_users(
    api: ApiClient, context: AppContext
) -> None:
    responses = await asyncio.gather(*(api.http.post("/auth/anon", json={}) for _ in range(5)))
    assert len({assert_ok(response)["user_id"] for response in responses}) == 5
    assert await count_rows(context, User) == 5


async def test_device_hash_of_256_chars_is_accepted(api: ApiClient) -> None:
    response = await api.http.post("/auth/anon", json={"device_hash": "d" * 256})
    assert assert_ok(response)["is_new"] is True


async def test_invalid_device_hash_is_400_validation_failed(
    api: ApiClient, context: AppContext
) -> None:
    for device_hash in ("d" * 257, "", 12345, ["a"]):
        response = await api.http.post("/auth/anon", json={"device_hash": device_hash})
        error = assert_error(response, 400, "VALIDATION_FAILED")
        assert error["details"]["fields"][0]["field"] == "device_hash"
    assert await count_rows(context, User) == 0


async def test_empty_body_with_json_content_type_is_accepted(api: ApiClient) -> None:
    response = await api.http.post(
        "/auth/anon", content=b"", headers={"Content-Type": "application/json"}
    )
    assert assert_ok(response)["is_new"] is True


async def test_no_body_at_all_is_accepted(api: ApiClient) -> None:
    response = await api.http.post("/auth/anon")
    assert "content-type" not in response.request.headers
    assert assert_ok(response)["is_new"] is True


async def test_unknown_fields_are_ignored(api: ApiClient) -> None:
    response = await api.http.post(
        "/auth/anon", json={"device_hash": "dev-x-0123456789abcdef", "platform": "ios"}
    )
    assert assert_ok(response)["is_new"] is True


async def test_malformed_json_body_is_400(api: ApiClient, context: AppContext) -> None:
    response = await api.http.post(
        "/auth/anon", content=b'{"device_hash": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "VALIDATION_FAILED")
    assert await count_rows(context, User) == 0


async def test_sign_in_needs_no_authorization(api: ApiClient) -> None:
    response = await api.http.post("/auth/anon", headers={"Authorization": "Bearer not-a-token"})
    assert assert_ok(response)["is_new"] is True
