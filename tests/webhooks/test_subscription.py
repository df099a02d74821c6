"""`webhook_url` / `webhook_events` on `POST /jobs`, and the per-user signing secret."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from s3api.security.outbound_urls import UnsafeUrlError, check_outbound_url, is_public_address
from s3api.settings import Settings
from tests.support.databases import make_settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.foundation import client_for
from tests.support.jobs import error_of


async def _create(api: ApiClient, user: SignedIn, **webhook: Any) -> Any:
    body = {"preset": "interior", "item_count": 1, **webhook}
    return await api.http.post("/jobs", json=body, headers=user.headers)


async def test_development_accepts_a_local_http_receiver_and_shows_it_on_the_job(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    response = await _create(api, user, webhook_url="http://127.0.0.1:9/hooks")
    assert response.status_code == 201, response.text
    job = await api.job(user, response.json()["data"]["job_id"])
    assert job["webhook"] == {
        "url": "http://127.0.0.1:9/hooks",
        "events": ["job.completed"],
        "last_status": None,
        "last_attempt_at": None,
        "last_response_code": None,
        "last_error": None,
        "attempts": 0,
    }
    other = await api.sign_in()
    plain = await api.create_job(other, 1)
    assert (await api.job(other, plain["job_id"]))["webhook"] is None


@pytest.mark.parametrize(
    ("webhook", "field"),
    [
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"webhook_url": 42}, "webhook_url"),
        ({"webhook_url": "https://user:pw@example.com/"}, "webhook_url"),
        ({"webhook_url": "https://example.com/" + "a" * 2048}, "webhook_url"),
        ({"webhook_events": ["job.completed"]}, "webhook_events"),
        ({"webhook_url": "http://127.0.0.1/", "webhook_events": []}, "webhook_events"),
        ({"webhook_url": "http://127.0.0.1/", "webhook_events": ["job.started"]}, "webhook_events"),
        ({"webhook_url": "http://127.0.0.1/", "webhook_events": "job.completed"}, "webhook_events"),
    ],
)
async def test_bad_webhook_fields_are_refused_and_create_nothing(
    api: ApiClient, webhook: dict[str, Any], field: str
) -> None:
    user = await api.sign_in()
    credits = (await api.me(user))["credits"]
    error = error_of(await _create(api, user, **webhook), 400, "VALIDATION_FAILED")
    assert error["details"]["fields"][0]["field"] == field
    assert (await api.me(user))["credits"] == credits
    assert (await api.http.get("/jobs", headers=user.headers)).json()["data"] == []


@pytest.fixture
def production_settings(tmp_path: Path, database_url: str) -> Settings:
    """Production rules on the test database."""
    return make_settings(tmp_path / "prod", database_url, s3api_env="production")


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://100.100.100.200/latest/meta-data",
        "https://[::ffff:100.64.0.1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
        "https://93.184.216.34:0/hook",
        "https://name\u0001.evil/hook",
        "https://exa\tmple.com/hook",
    ],
)
async def test_production_refuses_plain_http_and_non_public_addresses(
    production_settings: Settings, url: str
) -> None:
    async with client_for(production_settings) as (_, client):
        api = ApiClient(client, "")
        user = await api.sign_in()
        error = error_of(await _create(api, user, webhook_url=url), 400, "VALIDATION_FAILED")
        assert error["details"]["fields"][0]["field"] == "webhook_url"


async def test_production_accepts_https_to_a_public_address(production_settings: Settings) -> None:
    async with client_for(production_settings) as (_, client):
        api = ApiClient(client, "")
        user = await api.sign_in()
        response = await _create(api, user, webhook_url="https://93.184.216.34/hook")
        assert response.status_code == 201, response.text


async def test_names_that_resolve_to_loopback_are_refused_in_production_only() -> None:
    with pytest.raises(UnsafeUrlError, match="private, loopback or link-local"):
        await check_outbound_url("https://localhost:8443/hook", is_production=True)
    await check_outbound_url("http://localhost:8443/hook", is_production=False)
    assert is_public_address("8.8.8.8")
    assert not is_public_address("172.16.5.4")
    assert not is_public_address("fe80::1%eth0")


async def test_webhook_secret_is_made_once_and_replaced_by_rotation(api: ApiClient) -> None:
    user, other = await api.sign_in(), await api.sign_in()

    async def secret_of(who: SignedIn) -> str:
        response = await api.http.get("/me/webhook-secret", headers=who.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["secret"])

    first = await secret_of(user)
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert await secret_of(user) == first
    assert await secret_of(other) != first
    rotated = await api.http.post("/me/webhook-secret/rotate", headers=user.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["secret"]
    assert new != first
    assert await secret_of(user) == new
    error_of(await api.http.get("/me/webhook-secret"), 401, "AUTH_REQUIRED")
