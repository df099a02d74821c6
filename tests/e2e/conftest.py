"""Fixtures for end-to-end tests: moto's S3 server and migrated databases for processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, moto_s3_server

MOTO_BUCKET = "s3api-e2e"
MOTO_REGION = REGION
MOTO_KEY_ID = ACCESS_KEY_ID
MOTO_SECRET = SECRET_ACCESS_KEY


def moto_storage_environment(endpoint: str) -> dict[str, str]:
    """Server variables that put its objects in the moto bucket."""
    return {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": MOTO_REGION,
        "S3_BUCKET": MOTO_BUCKET,
        "S3_ACCESS_KEY_ID": MOTO_KEY_ID,
        "S3_SECRET_ACCESS_KEY": MOTO_SECRET,
    }


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on a free local port, with the bucket created."""
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
def migrated_url(backend: str, empty_database_url: str) -> str:
    """A database a server process can use: SQLite is migrated by `serve` itself."""
    if backend == "postgres":
        import asyncio

        from tests.conftest import _truncate_postgres

        asyncio.run(_truncate_postgres(empty_database_url))
    return empty_database_url
