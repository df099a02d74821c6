"""Errors a client developer can act on: what was wrong, what is allowed, in one shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s3api.context import AppContext
from s3api.db.models import Rule
from tests.support.databases import make_settings
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, client_for, count_rows, rule_body

JSON = {"Content-Type": "application/json"}


async def test_a_lone_surrogate_preset_is_400_without_echoing_it(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.post(
        "/jobs",
        content=b'{"preset": "\\ud800", "item_count": 1}',
        headers={**user.headers, **JSON},
    )
    error = assert_error(response, 400, "INVALID_PRESET")
    assert "ud800" not in error["message"]
    assert error["details"]["preset"] == "\\ud800"  # the escape's text: the answer encodes
    assert "interior" in error["details"]["allowed"]
    assert error["details"]["fields"] == [{"field": "preset", "message": "not a preset id"}]


async def test_an_unknown_preset_id_on_a_rule_names_the_field_and_lists_the_ids(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    body = rule_body(preset_id="Interior-SECRET")
    error = assert_error(
        await api.http.post("/rules", json=body, headers=user.headers), 400, "INVALID_PRESET"
    )
    assert "SECRET" not in error["message"]
    assert "case-sensitive" in error["message"]
    assert error["details"]["fields"][0]["field"] == "preset_id"
    assert error["details"]["allowed"] == sorted(error["details"]["allowed"])


async def test_an_unknown_concept_names_it_and_lists_the_allowed_ones(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    body = rule_body(concepts={"floor": {"action": "remove"}}, protect=["grout"])
    response = await api.http.post("/rules", json=body, headers=user.headers)
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert '"floor"' in error["message"]
    assert '"grout"' in error["message"]
    assert "case-sensitive" in error["message"]
    details = error["details"]
    assert details["unknown_concepts"] == ["floor"]
    assert details["unknown_protect"] == ["grout"]
    assert "Floor" in details["allowed_concepts"]
    assert "Grout" in details["allowed_protect"]
    assert [entry["field"] for entry in details["fields"]] == ["concepts.floor", "protect"]
    assert await count_rows(context, Rule) == 0


async def test_an_unknown_concept_with_a_lone_surrogate_still_answers(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.post(
        "/rules",
        content=(
            b'{"name": "x", "preset_id": "interior", "concepts": {"\\udc00": {"action": "remove"}}}'
        ),
        headers={**user.headers, **JSON},
    )
    assert assert_error(response, 400, "VALIDATION_FAILED")["details"]["fields"]


@pytest.mark.parametrize(
    ("edit", "wanted"),
    [
        ({"action": "paint-it", "value": "oak"}, "action must be one of: recolor, tone, texture"),
        ({"value": "oak"}, "action is required"),
    ],
    ids=["wrong", "missing"],
)
async def test_a_wrong_action_names_the_field_and_the_allowed_actions(
    api: ApiClient, edit: dict[str, str], wanted: str
) -> None:
    user = await api.sign_in()
    body = rule_body(concepts={"Floor": edit})
    response = await api.http.post("/rules", json=body, headers=user.headers)
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert error["message"].startswith(wanted)
    assert "Input tag" not in response.text
    assert "paint-it" not in response.text
    [field] = error["details"]["fields"]
    assert field == {"field": "concepts.Floor.action", "message": error["message"]}


async def test_malformed_json_names_the_body_with_its_line_and_column(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.post(
        "/rules",
        content=b'{\n  "name": "x",\n  "preset_id": \n}',
        headers={**user.headers, **JSON},
    )
    error = assert_error(response, 400, "VALIDATION_FAILED")
    assert "line 4, column 1" in error["message"]
    assert error["details"]["fields"] == [{"field": "body", "message": error["message"]}]


async def test_a_webhook_url_error_has_the_one_fields_shape(api: ApiClient) -> None:
    user = await api.sign_in()
    body = {"preset": "interior", "item_count": 1, "webhook_url": "ftp://example.com/"}
    response = await api.http.post("/jobs", json=body, headers=user.headers)
    error = assert_error(response, 400, "VALIDATION_FAILED")
    [field] = error["details"]["fields"]
    assert field["field"] == "webhook_url"
    assert field["message"] == error["message"]
    assert "field" not in error["details"]


@pytest.fixture
async def small_body(tmp_path: Path, database_url: str) -> AsyncIterator[ApiClient]:
    settings = make_settings(tmp_path / "small", database_url, max_body_bytes=2 * 1024 * 1024)
    async with client_for(settings) as (_application, client):
        yield ApiClient(client, "unused")


async def test_a_body_over_the_limit_says_the_limit_in_bytes_and_mib(
    small_body: ApiClient,
) -> None:
    content = b'{"device_hash": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await small_body.http.post("/auth/anon", content=content, headers=JSON)
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "2097152 bytes" in error["message"]
    assert "2 MiB" in error["message"]
    assert error["details"] == {"limit_bytes": 2097152, "limit_mib": 2}


async def test_an_upload_over_the_limit_says_the_limit(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    url = created["presigned_urls"][0]["url"]
    response = await api.http.put(url, content=b"x" * (20 * 1024 * 1024 + 1))
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "20971520 bytes (20 MiB)" in error["message"]
    assert error["details"]["limit_bytes"] == 20 * 1024 * 1024


async def test_a_refused_job_slot_names_the_jobs_holding_it(api: ApiClient) -> None:
    user = await api.sign_in()
    held = await api.create_job(user, 1)
    response = await api.http.post(
        "/jobs", json={"preset": "interior", "item_count": 1}, headers=user.headers
    )
    error = assert_error(response, 429, "CONCURRENCY_LIMIT")
    assert error["details"] == {
        "max_concurrency": 1,
        "active_jobs": [{"job_id": held["job_id"], "status": "created"}],
    }
