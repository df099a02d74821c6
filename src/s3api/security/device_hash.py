"""Device hashes are credentials: only their HMAC under a server secret is stored."""

from __future__ import annotations

import hashlib
import hmac

KEYED_PREFIX = "hmac-sha256:"
"""Marks a stored value as keyed, so a raw value from an older database is told apart."""

MIN_DEVICE_HASH_LENGTH = 16


def keyed_device_hash(secret: str, device_hash: str) -> str:
    """The stored form of a device hash: a leaked table does not give away sign-ins."""
    digest = hmac.new(secret.encode(), device_hash.encode(), hashlib.sha256).hexdigest()
    return f"{KEYED_PREFIX}{digest}"


def may_be_stored_raw(device_hash: str) -> bool:
    """Whether a presented value may match a row written before hashes were keyed.

    A value that looks keyed never does: presenting a stored HMAC must not sign anyone in.
    """
    return not device_hash.startswith(KEYED_PREFIX)
