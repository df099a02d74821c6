"""`device_hash` as a credential: only its HMAC is stored, short values are refused, and
rows holding a raw hash from before keying keep working and are rewritten on first use."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select

from s3api.context import AppContext
from s3api.db.models import BillingEvent, User
from s3api.ids import new_id
from s3api.security.device_hash import keyed_device_hash
from s3api.timeutil import utcnow
from tests.support.databases import TEST_DEVICE_HASH_SECRET
from tests.support.factories import ApiClient, SignedIn
from tests.support.foundation import assert_error, assert_ok, count_rows

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


async def stored_device_hashes(context: AppContext) -> list[str | None]:
    """Every `users.device_hash` value as the database holds it."""
    async with context.database.read() as connection:
        return list((await connection.execute(select(User.device_hash))).scalars())


async def insert_legacy_user(context: AppContext, raw_device_hash: str) -> str:
    """A user row as written before device hashes were keyed: the raw value, 7 credits."""
    user_id, now = new_id(), utcnow()
    async with context.database.transaction() as connection:
        await connection.execute(
            insert(User).values(
                id=user_id,
                device_hash=raw_device_hash,
                plan="free",
                credits=7,
                created_at=now,
                updated_at=now,
            )
        )
    return user_id


async def test_only_the_keyed_hash_is_stored(api: ApiClient, context: AppContext) -> None:
    assert_ok(await api.http.post("/auth/anon", json={"device_hash": DEVICE}))
    stored = await stored_device_hashes(context)
    assert stored == [keyed_device_hash(TEST_DEVICE_HASH_SECRET, DEVICE)]
    assert DEVICE not in str(stored[0])


async def test_keyed_hash_depends_on_the_server_secret() -> None:
    assert keyed_device_hash("one-secret", DEVICE) != keyed_device_hash("another-secret", DEVICE)


async def test_device_hash_shorter_than_16_characters_is_400_naming_the_field(
    api: ApiClient, context: AppContext
) -> None:
    response = await api.http.post("/auth/anon", json={"device_hash": "d" * 15})
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert error["details"]["fields"][0]["field"] == "device_hash"
    assert await count_rows(context, User) == 0
    assert_ok(await api.http.post("/auth/anon", json={"device_hash": "d" * 16}))


async def test_a_raw_hash_from_before_keying_signs_in_and_is_rewritten(
    api: ApiClient, context: AppContext
) -> None:
    legacy_id = await insert_legacy_user(context, DEVICE)
    data = assert_ok(await api.http.post("/auth/anon", json={"device_hash": DEVICE}))
    assert (data["user_id"], data["is_new"]) == (legacy_id, False)
    assert await stored_device_hashes(context) == [
        keyed_device_hash(TEST_DEVICE_HASH_SECRET, DEVICE)
    ]
    again = assert_ok(await api.http.post("/auth/anon", json={"device_hash": DEVICE}))
    assert (again["user_id"], again["is_new"]) == (legacy_id, False)
    assert (await api.me(SignedIn(again["user_id"], again["token"])))["credits"] == 7
    assert await count_rows(context, BillingEvent) == 0


async def test_concurrent_first_sign_ins_of_a_legacy_device_find_one_user(
    api: ApiClient, context: AppContext
) -> None:
    legacy_id = await insert_legacy_user(context, DEVICE)
    responses = await asyncio.gather(
        *(api.http.post("/auth/anon", json={"device_hash": DEVICE}) for _ in range(6))
    )
    assert {assert_ok(response)["user_id"] for response in responses} == {legacy_id}
    assert await count_rows(context, User) == 1


async def test_presenting_a_stored_hmac_does_not_sign_in_as_its_device(
    api: ApiClient, context: AppContext
) -> None:
    owner = assert_ok(await api.http.post("/auth/anon", json={"device_hash": DEVICE}))
    (stored,) = await stored_device_hashes(context)
    assert stored is not None
    thief = assert_ok(await api.http.post("/auth/anon", json={"device_hash": stored}))
    assert thief["user_id"] != owner["user_id"]
    assert thief["is_new"] is True
