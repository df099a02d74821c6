"""`/openapi.json` documents the envelopes; `/docs` serves the interactive page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import make_settings
from tests.support.foundation import client_for, sqlite_url


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app; the OpenAPI routes never touch the database."""
    async with client_for(make_settings(tmp_path, sqlite_url(tmp_path / "o.db"))) as (_, c):
        yield c


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    """The OpenAPI document."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    response = spec["paths"][path][method]["responses"][status]
    return _resolve(spec, response["content"]["application/json"]["schema"])


def test_every_foundation_route_is_documented(spec: dict[str, Any]) -> None:
    expected = {
        "/health": {"get"},
        "/auth/anon": {"post"},
        "/me": {"get"},
        "/presets": {"get"},
        "/presets/{preset_id}": {"get"},
        "/rules": {"get", "post"},
        "/rules/{rule_id}": {"get", "put", "delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path


def test_me_success_schema_is_the_envelope_of_the_account(spec: dict[str, Any]) -> None:
    schema = _response_schema(spec, "/me", "get", "200")
    assert {"success", "data", "error", "meta"} <= set(schema["properties"])
    data = _resolve(spec, schema["properties"]["data"])
    for field in ("user_id", "plan", "credits", "rule_slots", "concurrent_jobs", "max_rule_slots"):
        assert field in data["properties"], field
    meta = _resolve(spec, schema["properties"]["meta"])
    assert {"request_id", "timestamp"} <= set(meta["properties"])


def test_me_401_schema_is_the_error_envelope(spec: dict[str, Any]) -> None:
    schema = _response_schema(spec, "/me", "get", "401")
    assert {"success", "data", "error", "meta"} <= set(schema["properties"])
    error = _resolve(spec, schema["properties"]["error"])
    assert {"code", "message"} <= set(error["properties"])


def test_create_rule_documents_201_with_the_rule_envelope(spec: dict[str, Any]) -> None:
    schema = _response_schema(spec, "/rules", "post", "201")
    data = _resolve(spec, schema["properties"]["data"])
    rule = _resolve(spec, data["properties"]["rule"])
    assert "created_at" in rule["properties"]
    assert "403" in spec["paths"]["/rules"]["post"]["responses"]


def test_validation_errors_are_documented_as_400_error_envelopes(spec: dict[str, Any]) -> None:
    schema = _response_schema(spec, "/rules", "post", "400")
    assert {"success", "data", "error", "meta"} <= set(schema["properties"])


def test_no_operation_documents_the_frameworks_bare_422(spec: dict[str, Any]) -> None:
    documented_422 = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "422" in operation.get("responses", {})
    ]
    assert documented_422 == []


async def test_docs_serves_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "openapi.json" in response.text


_URL_IN_HTML = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")
_ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_app_itself(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert _ABSOLUTE_URL.findall(response.text) == []
    assets = [url for url in _URL_IN_HTML.findall(response.text) if url != "/openapi.json"]
    assert any(url.endswith(".js") for url in assets), assets
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


def _request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]
    return _resolve(spec, body["content"]["application/json"]["schema"])


def test_job_create_declares_its_presets_and_item_count_bounds(spec: dict[str, Any]) -> None:
    schema = _request_schema(spec, "/jobs", "post")
    assert set(schema["required"]) == {"preset", "item_count"}
    assert sorted(schema["properties"]["preset"]["enum"]) == ["custom", "interior", "seller"]
    item_count = schema["properties"]["item_count"]
    assert (item_count["type"], item_count["minimum"], item_count["maximum"]) == (
        "integer",
        1,
        200,
    )


def test_rule_create_declares_each_presets_concept_and_protect_names(
    spec: dict[str, Any],
) -> None:
    branches = {
        branch["properties"]["preset_id"]["const"]: branch["properties"]
        for branch in _request_schema(spec, "/rules", "post")["oneOf"]
    }
    assert set(branches) == {"interior", "seller", "custom"}
    assert branches["custom"]["concepts"]["propertyNames"]["maxLength"] == 60
    assert "Wall" in branches["interior"]["concepts"]["propertyNames"]["enum"]
    assert "Logo" not in branches["interior"]["concepts"]["propertyNames"]["enum"]
    assert "Glass_highlight" in branches["interior"]["protect"]["items"]["enum"]


def test_edit_values_are_declared_per_action(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    recolor = schemas["RecolorEdit"]["properties"]["value"]["anyOf"]
    assert {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$"} in recolor
    assert any("navy" in option.get("enum", []) for option in recolor)
    assert schemas["ToneEdit"]["properties"]["value"]["enum"] == [
        "bright",
        "cool",
        "dark",
        "muted",
        "vivid",
        "warm",
    ]
    assert "brownish" not in schemas["TextureEdit"]["properties"]["value"]["enum"]


def test_execute_needs_a_rule_non_empty_concepts_or_a_rendering_template(
    spec: dict[str, Any],
) -> None:
    operation = spec["paths"]["/jobs/{job_id}/execute"]["post"]
    assert operation["requestBody"]["required"] is True
    schema = _request_schema(spec, "/jobs/{job_id}/execute", "post")
    branches = {branch["required"][0]: branch for branch in schema["anyOf"]}
    assert sorted(branches) == ["concepts", "output_template", "rule_id"]
    assert branches["concepts"]["properties"]["concepts"]["minProperties"] == 1
    # only the templates that render their own variants stand in for concepts
    template = branches["output_template"]["properties"]["output_template"]
    assert template["enum"] == ["시안3안팩", "옵션보드"]


def test_unconstrained_strings_are_declared_free_of_nul(spec: dict[str, Any]) -> None:
    rule = spec["components"]["schemas"]["RuleCreate"]["properties"]
    assert rule["name"]["pattern"] == "^[^\\u0000]*$"
    cursor = next(
        parameter
        for parameter in spec["paths"]["/jobs"]["get"]["parameters"]
        if parameter["name"] == "cursor"
    )
    assert {"type": "string", "maxLength": 200, "pattern": "^[^\\u0000]*$"} in cursor["schema"][
        "anyOf"
    ]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/auth/anon", "post"),
        ("/jobs", "post"),
        ("/rules", "post"),
        ("/rules/{rule_id}", "put"),
        ("/rules/{rule_id}", "delete"),
    ],
)
def test_rate_limited_routes_document_429(spec: dict[str, Any], path: str, method: str) -> None:
    assert "429" in spec["paths"][path][method]["responses"]
