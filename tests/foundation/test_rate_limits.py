"""Rate limits: sign-ups per client IP, writes per user, 429 `RATE_LIMITED` with Retry-After.

Budgets are an hour long, so no test depends on the clock moving.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import coredis
import httpx
import pytest
from pydantic import ValidationError

from s3api.app import create_app
from s3api.settings import Settings
from tests.support.databases import application_context, make_settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.foundation import assert_error, assert_ok

REDIS_URL = "redis://127.0.0.1:6379"
RULE = {"name": "r", "preset_id": "interior", "concepts": {"Wall": {"action": "remove"}}}

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_for(tmp_path: Path, database_url: str) -> ClientFactory:
    """Clients of apps built with the given setting overrides, seen from a chosen peer."""

    @asynccontextmanager
    async def open_client(
        peer: str = "203.0.113.7", **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(tmp_path / "data", database_url, **overrides)
        application = create_app(settings, migrate=False)
        transport = httpx.ASGITransport(
            app=application, raise_app_exceptions=False, client=(peer, 50000)
        )
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                yield client
        finally:
            await application_context(application).close()

    return open_client


def assert_rate_limited(response: httpx.Response, window_seconds: int) -> None:
    """429 `RATE_LIMITED` whose Retry-After lies within the budget's window."""
    assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds


async def test_sign_ups_over_the_budget_get_429_with_retry_after(
    client_for: ClientFactory,
) -> None:
    async with client_for(anon_signup_rate="2/hour") as client:
        assert_ok(await client.post("/auth/anon"))
        assert_ok(await client.post("/auth/anon"))
        assert_rate_limited(await client.post("/auth/anon"), 3600)


async def test_refused_sign_up_creates_no_user(client_for: ClientFactory) -> None:
    async with client_for(anon_signup_rate="1/hour") as client:
        assert_ok(await client.post("/auth/anon"))
        body = {"device_hash": "refused-device-0123456789"}
        assert_rate_limited(await client.post("/auth/anon", json=body), 3600)
    async with client_for(anon_signup_rate="1/hour") as fresh_budget:
        assert assert_ok(await fresh_budget.post("/auth/anon", json=body))["is_new"] is True


async def test_each_client_address_has_its_own_sign_up_budget(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path / "data", database_url, anon_signup_rate="1/hour")
    application = create_app(settings, migrate=False)
    try:
        for peer in ("198.51.100.1", "198.51.100.2"):
            transport = httpx.ASGITransport(app=application, client=(peer, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert_ok(await client.post("/auth/anon"))
                assert_rate_limited(await client.post("/auth/anon"), 3600)
    finally:
        await application_context(application).close()


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    client_for: ClientFactory,
) -> None:
    async with client_for(peer="203.0.113.7", anon_signup_rate="1/hour") as client:
        assert_ok(await client.post("/auth/anon", headers={"X-Forwarded-For": "192.0.2.1"}))
        spoofed = await client.post("/auth/anon", headers={"X-Forwarded-For": "192.0.2.2"})
        assert_rate_limited(spoofed, 3600)


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    client_for: ClientFactory,
) -> None:
    async with client_for(
        peer="10.0.0.5", anon_signup_rate="1/hour", forwarded_allow_ips=["10.0.0.0/8"]
    ) as client:
        assert_ok(await client.post("/auth/anon", headers={"X-Forwarded-For": "192.0.2.1"}))
        assert_ok(await client.post("/auth/anon", headers={"X-Forwarded-For": "192.0.2.2"}))
        again = await client.post("/auth/anon", headers={"X-Forwarded-For": "192.0.2.1"})
        assert_rate_limited(again, 3600)


async def test_job_creates_and_rule_writes_share_one_budget_per_user(
    client_for: ClientFactory,
) -> None:
    async with client_for(user_write_rate="3/hour", free_max_rule_slots=5) as client:
        api = ApiClient(client, "")
        user, other = await api.sign_in(), await api.sign_in()
        created = await client.post("/rules", json=RULE, headers=user.headers)
        rule_id = assert_ok(created, 201)["rule"]["id"]
        assert_ok(await client.put(f"/rules/{rule_id}", json=RULE, headers=user.headers))
        await api.create_job(user, item_count=1)
        assert_rate_limited(await client.delete(f"/rules/{rule_id}", headers=user.headers), 3600)
        job = {"preset": "interior", "item_count": 1}
        assert_rate_limited(await client.post("/jobs", json=job, headers=user.headers), 3600)
        assert_ok(await client.post("/rules", json=RULE, headers=other.headers), 201)


async def test_reruns_spend_the_write_budget_of_job_creates(client_for: ClientFactory) -> None:
    async with client_for(user_write_rate="3/hour") as client:
        api = ApiClient(client, "")
        user = await api.sign_in()
        job_id = (await api.create_job(user, item_count=1))["job_id"]
        rerun = f"/jobs/{job_id}/rerun"
        body = {"concepts": {"Wall": {"action": "remove"}}}
        # the job is not finished: each re-run is refused, but only after it was counted
        for _ in range(2):
            assert_error(
                await client.post(rerun, json=body, headers=user.headers),
                409,
                "JOB_INVALID_TRANSITION",
            )
        assert_rate_limited(await client.post(rerun, json=body, headers=user.headers), 3600)
        job = {"preset": "interior", "item_count": 1}
        assert_rate_limited(await client.post("/jobs", json=job, headers=user.headers), 3600)


async def test_reads_do_not_spend_the_write_budget(client_for: ClientFactory) -> None:
    async with client_for(user_write_rate="1/hour") as client:
        api = ApiClient(client, "")
        user = await api.sign_in()
        for _ in range(3):
            assert_ok(await client.get("/rules", headers=user.headers))
            assert_ok(await client.get("/jobs", headers=user.headers))
        assert_ok(await client.post("/rules", json=RULE, headers=user.headers), 201)


async def test_write_limit_needs_a_signed_in_user_first(client_for: ClientFactory) -> None:
    async with client_for(user_write_rate="1/hour") as client:
        for _ in range(2):
            assert_error(await client.post("/rules", json=RULE), 401, "AUTH_REQUIRED")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses, so tests sharing the Redis server never interfere;
    its keys are deleted afterwards."""
    prefix = f"s3api-test-{uuid.uuid4().hex}"
    yield prefix
    pool = coredis.ConnectionPool.from_url(REDIS_URL)
    try:
        client = coredis.Redis(connection_pool=pool)
        keys: list[str | bytes] = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(keys)
    finally:
        pool.disconnect()


async def test_replicas_share_one_sign_up_budget_in_redis(
    client_for: ClientFactory, redis_prefix: str
) -> None:
    shared = {
        "rate_limit_storage_url": REDIS_URL,
        "rate_limit_key_prefix": redis_prefix,
        "anon_signup_rate": "2/hour",
    }
    async with client_for(**shared) as first, client_for(**shared) as second:
        assert_ok(await first.post("/auth/anon"))
        assert_ok(await second.post("/auth/anon"))
        assert_rate_limited(await first.post("/auth/anon"), 3600)
        assert_rate_limited(await second.post("/auth/anon"), 3600)
    async with client_for(
        rate_limit_storage_url=REDIS_URL,
        rate_limit_key_prefix=f"{redis_prefix}-other",
        anon_signup_rate="2/hour",
    ) as elsewhere:
        assert_ok(await elsewhere.post("/auth/anon"))


async def test_user_writes_are_limited_in_redis(
    client_for: ClientFactory, redis_prefix: str
) -> None:
    async with client_for(
        rate_limit_storage_url=REDIS_URL,
        rate_limit_key_prefix=redis_prefix,
        user_write_rate="1/hour",
    ) as client:
        user: SignedIn = await ApiClient(client, "").sign_in()
        assert_ok(await client.post("/rules", json=RULE, headers=user.headers), 201)
        refused = await client.post("/rules", json=RULE, headers=user.headers)
        assert_rate_limited(refused, 3600)


async def test_unreachable_redis_answers_503_not_500(client_for: ClientFactory) -> None:
    async with client_for(rate_limit_storage_url="redis://127.0.0.1:1") as client:
        assert_error(await client.post("/auth/anon"), 503, "UNAVAILABLE")
        # the public share page answers its own HTML page, not the envelope
        page = await client.get(f"/share/{'a' * 43}")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "This page is unavailable" in page.text


async def test_share_views_are_limited_in_redis(
    client_for: ClientFactory, redis_prefix: str
) -> None:
    shared = {
        "rate_limit_storage_url": REDIS_URL,
        "rate_limit_key_prefix": redis_prefix,
        "share_view_rate": "2/minute",
    }
    async with client_for(**shared) as first, client_for(**shared) as second:
        assert (await first.get(f"/share/{'a' * 43}")).status_code == 404
        assert (await second.get(f"/share/{'b' * 43}/0/before")).status_code == 404
        refused = await first.get(f"/share/{'c' * 43}")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60


@pytest.mark.parametrize("setting", ["anon_signup_rate", "user_write_rate", "share_view_rate"])
@pytest.mark.parametrize("rate", ["20 per fortnight", "lots", ""])
def test_a_rate_outside_the_limits_notation_is_refused(setting: str, rate: str) -> None:
    with pytest.raises(ValidationError, match=setting):
        Settings.model_validate({setting: rate})


def test_rate_limit_storage_must_be_memory_or_redis() -> None:
    with pytest.raises(ValidationError, match="rate_limit_storage_url"):
        Settings(_env_file=None, rate_limit_storage_url="memcached://127.0.0.1:11211")


def test_forwarded_allow_ips_are_split_on_commas() -> None:
    settings = Settings(_env_file=None, forwarded_allow_ips="10.0.0.1, 192.168.0.0/16,")
    assert settings.forwarded_allow_ips == ["10.0.0.1", "192.168.0.0/16"]


def test_default_rates_are_the_documented_ones() -> None:
    settings = Settings(_env_file=None)
    assert (settings.anon_signup_rate, settings.user_write_rate) == ("20/hour", "60/minute")
    assert settings.rate_limit_storage_url == "memory://"
    assert settings.forwarded_allow_ips == []
