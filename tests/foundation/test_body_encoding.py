"""JSON bodies are UTF-8 (RFC 8259) and hold no NUL anywhere once parsed, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from s3api.context import AppContext
from s3api.db.models import Job, Rule, User
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, count_rows, rule_body

JSON = {"Content-Type": "application/json"}


def _post_bodies() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/rules", rule_body(name="a\x00b")),
        ("/jobs", {"preset": "interior", "item_count": 1, "webhook_url": "https://x\x00.evil/"}),
        ("/auth/anon", {"device_hash": "device-0123456789\x00"}),
    ]


async def _rows(context: AppContext) -> tuple[int, int, int]:
    return (
        await count_rows(context, Rule),
        await count_rows(context, Job),
        await count_rows(context, User),
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
@pytest.mark.parametrize(("path", "body"), _post_bodies(), ids=["rules", "jobs", "auth-anon"])
async def test_a_utf16_or_utf32_body_is_400_and_stores_nothing(
    api: ApiClient, context: AppContext, encoding: str, path: str, body: dict[str, Any]
) -> None:
    user = await api.sign_in()
    before = await _rows(context)
    content = json.dumps(body).encode(encoding)
    response = await api.http.post(path, content=content, headers={**user.headers, **JSON})
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert "UTF-8" in error["message"]
    assert error["details"]["fields"] == [{"field": "body", "message": error["message"]}]
    assert await _rows(context) == before


@pytest.mark.parametrize(("path", "body"), _post_bodies(), ids=["rules", "jobs", "auth-anon"])
async def test_an_escaped_nul_is_400_and_stores_nothing(
    api: ApiClient, context: AppContext, path: str, body: dict[str, Any]
) -> None:
    user = await api.sign_in()
    before = await _rows(context)
    response = await api.http.post(
        path, content=json.dumps(body).encode(), headers={**user.headers, **JSON}
    )
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert error["message"] == "NUL characters are not allowed"
    assert await _rows(context) == before


async def test_a_nul_in_a_key_is_refused_too(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    body = rule_body(concepts={"Fl\x00oor": {"action": "remove"}})
    response = await api.http.post("/rules", json=body, headers=user.headers)
    assert_error(response, 400, "VALIDATION_FAILED")
    assert await count_rows(context, Rule) == 0


async def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    response = await api.http.post("/rules", json=rule_body(name="a\\u0000"), headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["rule"]["name"] == "a\\u0000"


@pytest.mark.parametrize("content", [b'{"device_hash": "\xff\xfe-0123456789abcdef"}', b"\xc3("])
async def test_a_body_that_is_not_valid_utf8_is_400(api: ApiClient, content: bytes) -> None:
    response = await api.http.post("/auth/anon", content=content, headers=JSON)
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert "UTF-8" in error["message"]


async def test_a_utf8_body_with_non_ascii_text_is_accepted(api: ApiClient) -> None:
    user = await api.sign_in()
    body = json.dumps(rule_body(name="참나무 바닥"), ensure_ascii=False).encode("utf-8")
    response = await api.http.post("/rules", content=body, headers={**user.headers, **JSON})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["rule"]["name"] == "참나무 바닥"
