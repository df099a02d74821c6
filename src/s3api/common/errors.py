"""Errors raised on both sides of the HTTP contract."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The configuration cannot run the service; the message says what to set."""


class StorageUnavailableError(RuntimeError):
    """The object store failed or could not be reached (a disk error, S3 down or refusing):
    nothing about the request was wrong, and the same call may succeed when retried."""
