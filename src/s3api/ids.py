"""Identifiers: every id the API hands out is a UUID string."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A fresh random id."""
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    """Whether `value` is a canonical UUID; anything else cannot name a row of ours."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError):
        return False
