"""S3Storage against moto's S3 server on a local port, and the shape of its SigV4 URLs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from s3api.common.errors import StorageUnavailableError
from s3api.errors import ApiError, ErrorCode
from s3api.storage.base import ObjectInfo
from s3api.storage.s3 import DELETE_BATCH_SIZE, S3Storage
from s3api.storage.sniff import SNIFF_BYTES
from tests.support.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, moto_s3_server

BUCKET = "s3api-test-objects"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free port of 127.0.0.1, with the test bucket created."""
    with moto_s3_server(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
async def storage(moto_endpoint: str) -> AsyncIterator[S3Storage]:
    store = S3Storage(
        bucket=BUCKET,
        endpoint_url=moto_endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        max_upload_bytes=1024,
    )
    yield store
    await store.close()


@pytest.fixture
def key() -> str:
    """A fresh key per test, as the module shares one bucket."""
    return f"inputs/user-1/{uuid.uuid4().hex}/0.jpg"


async def test_s3_backend_against_moto_server_presigned_put_then_head_read_and_get(
    storage: S3Storage, key: str
) -> None:
    async with httpx.AsyncClient() as client:
        put = await client.put(
            await storage.presign_put(key, 600),
            content=PNG_BYTES,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 200, put.text
        assert await storage.head(key) == ObjectInfo(key=key, size=len(PNG_BYTES))
        assert await storage.read_head_bytes(key, SNIFF_BYTES) == PNG_BYTES[:SNIFF_BYTES]
        got = await client.get(await storage.presign_get(key, 600))
    assert got.status_code == 200
    assert got.content == PNG_BYTES


async def test_s3_backend_against_moto_server_put_bytes_keeps_content_type(
    storage: S3Storage, key: str
) -> None:
    await storage.put_bytes(key, PNG_BYTES, "image/png")
    assert await storage.get_bytes(key) == PNG_BYTES
    async with httpx.AsyncClient() as client:
        got = await client.get(await storage.presign_get(key, 600))
    assert got.headers["content-type"] == "image/png"


async def test_s3_backend_against_moto_server_read_head_bytes_of_short_and_empty_objects(
    storage: S3Storage, key: str
) -> None:
    await storage.put_bytes(key, b"abc", "image/jpeg")
    assert await storage.read_head_bytes(key, SNIFF_BYTES) == b"abc"
    await storage.put_bytes(key, b"", "image/jpeg")
    assert await storage.read_head_bytes(key, SNIFF_BYTES) == b""
    assert await storage.head(key) == ObjectInfo(key=key, size=0)


async def test_s3_backend_against_moto_server_missing_objects(storage: S3Storage, key: str) -> None:
    assert await storage.head(key) is None
    for read in (storage.get_bytes(key), storage.read_head_bytes(key, SNIFF_BYTES)):
        with pytest.raises(ApiError) as caught:
            await read
        assert caught.value.code is ErrorCode.NOT_FOUND


async def test_s3_presigned_put_signs_only_the_host_so_any_content_type_works(
    storage: S3Storage, moto_endpoint: str, key: str
) -> None:
    url = urlsplit(await storage.presign_put(key, 900))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == moto_endpoint
    assert url.path == f"/{BUCKET}/{key}"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].endswith(f"/{REGION}/s3/aws4_request")


async def test_s3_delete_many_goes_through_delete_objects_in_batches(
    storage: S3Storage,
) -> None:
    prefix = f"outputs/user-1/{uuid.uuid4().hex}"
    keys = [f"{prefix}/{idx}_result.png" for idx in range(5)]
    for key in keys:
        await storage.put_bytes(key, PNG_BYTES, "image/png")
    batches: list[int] = []

    def count_batch(params: dict[str, Any], **_: Any) -> None:
        batches.append(len(params["Delete"]["Objects"]))

    storage._client.meta.events.register("provide-client-params.s3.DeleteObjects", count_batch)
    storage.delete_batch_size = 2
    await storage.delete_many([*keys, f"{prefix}/missing.png", keys[0]])
    assert batches == [2, 2, 2]
    assert [await storage.head(key) for key in keys] == [None] * 5


def test_s3_delete_batches_hold_at_most_a_thousand_keys() -> None:
    assert DELETE_BATCH_SIZE == 1000


async def test_s3_refusing_every_call_is_storage_unavailable(moto_endpoint: str, key: str) -> None:
    # a bucket that does not exist: a real S3 answer, an error on every call
    store = S3Storage(
        bucket="s3api-no-such-bucket",
        endpoint_url=moto_endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        max_upload_bytes=1024,
    )
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.put_bytes(key, PNG_BYTES, "image/png"),
            lambda: store.get_bytes(key),
            lambda: store.read_head_bytes(key, 8),
            lambda: store.delete_many([key]),
        ]
        for call in calls:
            with pytest.raises(StorageUnavailableError):
                await call()
    finally:
        await store.close()
