"""Errors raised on both sides of the HTTP contract."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The configuration cannot run the service; the message says what to set."""
