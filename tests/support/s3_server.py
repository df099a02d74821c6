"""moto's standalone S3 server on a free local port: the S3-compatible store of the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCESS_KEY_ID = "testing-access-key"
SECRET_ACCESS_KEY = "testing-secret-key"


@contextmanager
def moto_s3_server(bucket: str) -> Iterator[str]:
    """Start moto on 127.0.0.1, create `bucket`, yield the endpoint URL, stop it after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    admin = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    try:
        admin.create_bucket(Bucket=bucket)
    finally:
        admin.close()
    try:
        yield endpoint
    finally:
        server.stop()


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
