"""Fixtures for end-to-end tests: moto's S3 server and migrated databases for processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.databases import truncate_postgres
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on a free local port, with the bucket created."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
def migrated_url(backend: str, empty_database_url: str) -> str:
    """A database a server process can use: SQLite is migrated by `serve` itself."""
    if backend == "postgres":
        asyncio.run(truncate_postgres(empty_database_url))
    return empty_database_url
