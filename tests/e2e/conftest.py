"""Fixtures for end-to-end tests: moto's S3 server and migrated databases for processes."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

MOTO_BUCKET = "s3api-e2e"
MOTO_REGION = "us-east-1"
MOTO_KEY_ID = "e2e-access-key"
MOTO_SECRET = "e2e-secret-key"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on a free local port, with the bucket created."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    admin = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=MOTO_REGION,
        aws_access_key_id=MOTO_KEY_ID,
        aws_secret_access_key=MOTO_SECRET,
    )
    try:
        admin.create_bucket(Bucket=MOTO_BUCKET)
    finally:
        admin.close()
    yield endpoint
    server.stop()


@pytest.fixture
def migrated_url(backend: str, empty_database_url: str) -> str:
    """A database a server process can use: SQLite is migrated by `serve` itself."""
    if backend == "postgres":
        import asyncio

        from tests.conftest import _truncate_postgres

        asyncio.run(_truncate_postgres(empty_database_url))
    return empty_database_url
