"""CORS: local development origins and the configured ones are allowed, others are not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import make_settings
from tests.support.foundation import assert_meta, client_for, sqlite_url


@pytest.fixture
async def cors_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app that lists two extra origins (no database access is needed)."""
    settings = make_settings(
        tmp_path,
        sqlite_url(tmp_path / "cors.db"),
        cors_origins="https://a.example,https://b.example",
    )
    async with client_for(settings) as (_app, client):
        yield client


async def _preflight(client: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await client.options(
        "/rules",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8080"])
async def test_local_dev_origin_preflight_is_allowed(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    response = await _preflight(cors_client, origin)
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == origin


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example"])
async def test_foreign_origin_preflight_is_not_allowed(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    response = await _preflight(cors_client, origin)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", ["https://a.example", "https://b.example"])
async def test_listed_origin_preflight_is_allowed(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    response = await _preflight(cors_client, origin)
    assert response.headers.get("access-control-allow-origin") == origin


async def test_refused_preflight_answers_the_error_envelope(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await _preflight(cors_client, "https://evil.example")
    assert response.status_code == 400
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    body = assert_meta(response)
    assert body["success"] is False
    assert body["data"] is None
    assert isinstance(body["error"]["code"], str)


async def test_cors_response_exposes_the_request_id_header(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.get("/nowhere", headers={"Origin": "http://localhost:5173"})
    assert response.headers.get("access-control-allow-origin") == "http://localhost:5173"
    exposed = response.headers.get("access-control-expose-headers", "").lower()
    assert "x-request-id" in exposed
