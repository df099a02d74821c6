"""OpenAPI tuned to what the API really answers: 400 envelopes instead of FastAPI's 422."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")
# the body middleware refuses NUL characters anywhere (PostgreSQL text cannot hold them)
NUL_FREE_PATTERN = "^[^\\u0000]*$"
_ALREADY_CONSTRAINED = ("pattern", "enum", "const", "format")
_ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


def install_openapi(app: FastAPI) -> None:
    """Replace the generated 422 responses by the error envelope the handlers send (400)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    responses["400"] = {
                        "description": "Validation failed",
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    }
        components = schema.get("components", {}).get("schemas", {})
        for name in _FRAMEWORK_SCHEMAS:
            components.pop(name, None)
        _declare_nul_free_strings(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_nul_free_strings(node: Any) -> None:
    """Give every otherwise unconstrained string (and object key) the NUL-free pattern."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not any(key in node for key in _ALREADY_CONSTRAINED):
            node["pattern"] = NUL_FREE_PATTERN
        names = node.get("propertyNames")
        if isinstance(names, dict) and not any(key in names for key in _ALREADY_CONSTRAINED):
            names["pattern"] = NUL_FREE_PATTERN
        elif names is None and isinstance(node.get("additionalProperties"), dict):
            node["propertyNames"] = {"pattern": NUL_FREE_PATTERN}
        for value in node.values():
            _declare_nul_free_strings(value)
    elif isinstance(node, list):
        for value in node:
            _declare_nul_free_strings(value)
