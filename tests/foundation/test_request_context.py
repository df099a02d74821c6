"""Request ids (`X-Request-ID` = `meta.request_id`) and the log lines of a request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_meta

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _boom(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/boom")


REQUEST_ID_CASES: dict[str, Call] = {
    "200": lambda client: client.get("/health"),
    "400": lambda client: client.post(
        "/auth/anon", content=b"{oops", headers={"Content-Type": "application/json"}
    ),
    "401": lambda client: client.get("/me"),
    "404": lambda client: client.get("/nowhere"),
    "405": lambda client: client.patch("/me"),
    "413": lambda client: client.post("/auth/anon", content=b"{" + b" " * (1024 * 1024) + b"}"),
    "500": _boom,
}


@pytest.mark.parametrize("status", list(REQUEST_ID_CASES))
async def test_x_request_id_header_equals_meta_request_id(
    boom_app: FastAPI, http: httpx.AsyncClient, status: str
) -> None:
    response = await REQUEST_ID_CASES[status](http)
    assert response.status_code == int(status), response.text
    body = assert_meta(response)
    assert body["success"] is (status == "200")


async def test_every_request_gets_its_own_request_id(http: httpx.AsyncClient) -> None:
    ids = {assert_meta(await http.get("/health"))["meta"]["request_id"] for _ in range(3)}
    assert len(ids) == 3


async def test_well_formed_incoming_request_id_is_reused(http: httpx.AsyncClient) -> None:
    response = await http.get("/health", headers={"X-Request-ID": "proxy-req-0001"})
    assert assert_meta(response)["meta"]["request_id"] == "proxy-req-0001"


async def test_malformed_incoming_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    response = await http.get("/health", headers={"X-Request-ID": "bad id <script>"})
    assert "<script>" not in assert_meta(response)["meta"]["request_id"]


async def test_access_log_line_has_request_id_method_path_status_and_duration(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await api.sign_in()
    caplog.set_level(logging.INFO, logger="s3api.access")
    response = await api.http.get("/me", headers=user.headers)
    request_id = assert_meta(response)["meta"]["request_id"]
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "s3api.access" and request_id in record.getMessage()
    ]
    assert len(lines) == 1, lines
    line = lines[0]
    assert "method=GET" in line
    assert "path=/me" in line
    assert "status=200" in line
    assert "duration_ms=" in line
    assert user.token not in caplog.text


async def test_access_log_never_contains_the_authorization_token(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "Zm9yZ2VkLXRva2VuLXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw"
    response = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "AUTH_INVALID_TOKEN")
    assert any(record.name == "s3api.access" for record in caplog.records)
    assert "status=401" in caplog.text
    assert token not in caplog.text


async def test_unexpected_error_log_line_names_the_request_id(
    boom_app: FastAPI, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await http.get("/boom")
    assert_error(response, 500, "INTERNAL_ERROR")
    request_id = response.json()["meta"]["request_id"]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors, "the unexpected error was not logged"
    assert all(request_id in record.getMessage() for record in errors), [
        record.getMessage() for record in errors
    ]
