"""The error envelope for framework errors, validation, crashes and the body-size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from s3api.context import AppContext
from s3api.db.models import Rule
from tests.support.databases import make_settings
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, client_for, count_rows, rule_body


async def test_unknown_route_is_404_not_found(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/no/such/route"), 404, "NOT_FOUND")


async def test_wrong_method_on_known_path_is_405_method_not_allowed(
    http: httpx.AsyncClient,
) -> None:
    assert_error(await http.delete("/health"), 405, "METHOD_NOT_ALLOWED")
    assert_error(await http.put("/rules"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/rules/some-id", "DELETE, GET, PUT"),
        ("PUT", "/rules", "GET, POST"),
        ("DELETE", "/health", "GET"),
        ("GET", "/queues/gpu-jobs/ack", "POST"),
    ],
)
async def test_405_lists_every_method_the_path_serves_in_allow(
    http: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await http.request(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allowed


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


async def test_body_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not(
    small_limit: tuple[ApiClient, AppContext],
) -> None:
    api, _context = small_limit
    headers = {"Content-Type": "application/json"}
    exact = b'{"device_hash": "edge-0123456789ab"' + b" " * (1024 - 36) + b"}"
    assert len(exact) == 1024
    assert (await api.http.post("/auth/anon", content=exact, headers=headers)).status_code == 200
    over = exact[:-1] + b" }"
    response = await api.http.post("/auth/anon", content=over, headers=headers)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_unexpected_error_envelope_is_readable_by_an_allowed_origin(
    boom_app: FastAPI, http: httpx.AsyncClient
) -> None:
    origin = "http://localhost:5173"
    response = await http.get("/boom", headers={"Origin": origin})
    assert_error(response, 500, "INTERNAL_ERROR")
    assert response.headers.get("access-control-allow-origin") == origin
