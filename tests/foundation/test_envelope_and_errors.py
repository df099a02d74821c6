"""The envelope on every answer, request ids, framework errors and the body-size limit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from s3api.context import AppContext
from s3api.db.models import Rule
from tests.conftest import make_settings
from tests.factories import ApiClient
from tests.foundation.helpers import assert_error, assert_meta, client_for, count_rows, rule_body

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _raise_unexpected() -> None:
    raise RuntimeError("secret-sql-detail")


@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    """The test app with one extra route that fails unexpectedly."""
    app.add_api_route("/boom", _raise_unexpected, methods=["GET"])
    return app


async def test_unknown_route_is_404_not_found(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/no/such/route"), 404, "NOT_FOUND")


async def test_wrong_method_on_known_path_is_405_method_not_allowed(
    http: httpx.AsyncClient,
) -> None:
    assert_error(await http.delete("/health"), 405, "METHOD_NOT_ALLOWED")
    assert_error(await http.put("/rules"), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_400_validation_failed_with_details(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.post(
        "/rules",
        content=b'{"name": "x", "preset_id": ',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert isinstance(error["details"], dict)
    assert error["details"]


@pytest.mark.parametrize(
    ("override", "field"),
    [({"name": 5}, "name"), ({"concepts": []}, "concepts"), ({"protect": "Grout"}, "protect")],
    ids=["name-int", "concepts-list", "protect-string"],
)
async def test_wrong_field_type_is_400_naming_the_field(
    api: ApiClient, context: AppContext, override: dict[str, object], field: str
) -> None:
    user = await api.sign_in()
    response = await api.http.post("/rules", json=rule_body(**override), headers=user.headers)
    error = assert_error(response, 400, "VALIDATION_FAILED")
    fields = error["details"]["fields"]
    assert isinstance(fields, list)
    assert any(entry["field"].split(".")[0] == field for entry in fields), fields
    assert await count_rows(context, Rule) == 0


async def test_validation_details_do_not_echo_submitted_values(api: ApiClient) -> None:
    user = await api.sign_in()
    body = rule_body(concepts={"Floor": {"action": "paint-it-SECRETVALUE", "value": "oak"}})
    response = await api.http.post("/rules", json=body, headers=user.headers)
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "SECRETVALUE" not in response.text


async def test_unexpected_exception_is_500_internal_error_without_its_text(
    boom_app: FastAPI, http: httpx.AsyncClient
) -> None:
    response = await http.get("/boom")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret-sql-detail" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in error["message"]


async def test_body_over_default_limit_is_413_and_writes_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    body = rule_body(padding="x" * (1024 * 1024))
    response = await api.http.post("/rules", json=body, headers=user.headers)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await count_rows(context, Rule) == 0


@pytest.fixture
async def small_limit(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[ApiClient, AppContext]]:
    """An app on the current backend that accepts request bodies of at most 1024 bytes."""
    settings = make_settings(tmp_path / "small", database_url, max_body_bytes=1024)
    async with client_for(settings) as (application, client):
        yield ApiClient(client, "unused"), application.state.context


def _padded_rule() -> bytes:
    import json

    return json.dumps(rule_body(padding="x" * 2000)).encode()


async def test_body_over_configured_limit_with_content_length_is_413(
    small_limit: tuple[ApiClient, AppContext],
) -> None:
    api, context = small_limit
    user = await api.sign_in()
    response = await api.http.post(
        "/rules",
        content=_padded_rule(),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert "content-length" in {name.lower() for name in response.request.headers}
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await count_rows(context, Rule) == 0


async def test_chunked_body_over_configured_limit_is_413(
    small_limit: tuple[ApiClient, AppContext],
) -> None:
    api, context = small_limit
    user = await api.sign_in()
    payload = _padded_rule()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 256):
            yield payload[start : start + 256]

    response = await api.http.post(
        "/rules",
        content=chunks(),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await count_rows(context, Rule) == 0


async def test_body_under_configured_limit_is_accepted(
    small_limit: tuple[ApiClient, AppContext],
) -> None:
    api, context = small_limit
    user = await api.sign_in()
    response = await api.http.post("/rules", json=rule_body(), headers=user.headers)
    assert response.status_code == 201, response.text
    assert await count_rows(context, Rule) == 1


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
