"""Helpers shared by the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx

from s3api.storage.local import LocalStorage

SIGNING_KEY = b"storage-tests-signing-key-0123456789"
UPLOAD_LIMIT = 1024
"""A small limit so the tests can go over it cheaply."""


def make_local_storage(root: Path, base_url: str = "http://storage.test") -> LocalStorage:
    """Local storage under `root` with the tests' key and upload limit."""
    return LocalStorage(root, base_url, SIGNING_KEY, UPLOAD_LIMIT)


async def admit_every_upload(key: str) -> bool:
    """An upload admission with no jobs behind it: every signed PUT may store its object."""
    return True


def files_under(directory: Path) -> list[Path]:
    """Every regular file below `directory`, temporary files included."""
    return sorted(path for path in directory.rglob("*") if path.is_file())


async def chunks_of(
    parts: Iterable[bytes], requested: list[int] | None = None
) -> AsyncIterator[bytes]:
    """Yield `parts`, recording in `requested` how many were asked for."""
    for part in parts:
        if requested is not None:
            requested.append(len(part))
        yield part


def assert_error_envelope(response: httpx.Response, status: int, code: str) -> None:
    """The response is the API's error envelope with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["error"]["code"] == code
