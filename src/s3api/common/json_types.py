"""JSON request field types that follow JSON Schema, not Python's coercions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _number_not_bool_or_text(value: object) -> object:
    """JSON Schema's integer: `true` and `"3"` are not integers, `3.0` is."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_number_not_bool_or_text)]
"""An integer field that refuses booleans and numeric strings and accepts integral numbers."""
