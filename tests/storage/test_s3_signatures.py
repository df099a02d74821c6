"""S3Storage's SigV4 URLs against LocalStack, which verifies them (moto accepts any signature):
the project's own URLs are accepted, every tampered or stale one is refused."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import botocore.auth
import httpx
import pytest

from s3api.storage.base import ObjectInfo
from s3api.storage.factory import build_storage
from s3api.storage.s3 import S3Storage
from s3api.storage.sniff import SNIFF_BYTES
from tests.support.databases import make_settings
from tests.support.localstack import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    localstack_s3_server,
)

BUCKET = "s3api-signature-tests"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    """One LocalStack S3 for the run, with the test bucket created."""
    with localstack_s3_server(BUCKET) as endpoint:
        yield endpoint


def storage_from_settings(tmp_path: Path, endpoint: str, **overrides: Any) -> S3Storage:
    """The store the app builds from its `S3_*` settings, pointed at LocalStack."""
    values: dict[str, Any] = {
        "storage_backend": "s3",
        "s3_endpoint_url": endpoint,
        "s3_region": REGION,
        "s3_bucket": BUCKET,
        "s3_access_key_id": ACCESS_KEY_ID,
        "s3_secret_access_key": SECRET_ACCESS_KEY,
    }
    values.update(overrides)
    settings = make_settings(tmp_path / "data", "sqlite+aiosqlite:///unused.db", **values)
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    return storage


@pytest.fixture
async def storage(tmp_path: Path, localstack_endpoint: str) -> AsyncIterator[S3Storage]:
    store = storage_from_settings(tmp_path, localstack_endpoint)
    yield store
    await store.close()


@pytest.fixture
def key() -> str:
    """A fresh key per test, as the session shares one bucket."""
    return f"inputs/user-1/{uuid.uuid4().hex}/0.jpg"


def with_query(url: str, **changes: str) -> str:
    """`url` with these query parameters replaced, the others kept in order."""
    parts = urlsplit(url)
    query = [(name, changes.get(name, value)) for name, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_refused(response: httpx.Response, reason: str) -> None:
    """LocalStack answered 403 and its error message says why."""
    assert response.status_code == 403, response.text
    assert reason in response.text, response.text


async def test_presigned_put_then_get_are_accepted_and_the_store_reads_the_object(
    storage: S3Storage, key: str
) -> None:
    async with httpx.AsyncClient() as client:
        put = await client.put(
            await storage.presign_put(key, 600),
            content=PNG_BYTES,
            headers={"Content-Type": "image/jpeg"},
        )
        assert put.status_code == 200, put.text
        got = await client.get(await storage.presign_get(key, 600))
    assert got.status_code == 200, got.text
    assert got.content == PNG_BYTES
    assert await storage.head(key) == ObjectInfo(key=key, size=len(PNG_BYTES))
    assert await storage.read_head_bytes(key, SNIFF_BYTES) == PNG_BYTES[:SNIFF_BYTES]
    assert await storage.get_bytes(key) == PNG_BYTES


async def test_presigned_put_accepts_any_content_type_as_only_the_host_is_signed(
    storage: S3Storage, key: str
) -> None:
    url = await storage.presign_put(key, 600)
    async with httpx.AsyncClient() as client:
        for content_type in ("image/jpeg", "application/octet-stream", "image/heic"):
            put = await client.put(url, content=PNG_BYTES, headers={"Content-Type": content_type})
            assert put.status_code == 200, put.text


async def test_list_keys_and_delete_many_against_a_verifying_store(storage: S3Storage) -> None:
    prefix = f"outputs/user-1/{uuid.uuid4().hex}"
    keys = [f"{prefix}/{idx}_result.png" for idx in range(3)]
    for key in keys:
        await storage.put_bytes(key, PNG_BYTES, "image/png")
    listed = await storage.list_keys(f"{prefix}/", 1000)
    assert [key for key in listed if key.startswith(prefix)] == keys
    await storage.delete_many([*keys, f"{prefix}/missing.png"])
    assert [await storage.head(key) for key in keys] == [None, None, None]


async def test_a_tampered_signature_is_refused(storage: S3Storage, key: str) -> None:
    url = await storage.presign_put(key, 600)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    async with httpx.AsyncClient() as client:
        put = await client.put(with_query(url, **{"X-Amz-Signature": flipped}), content=b"x")
    assert_refused(put, "SignatureDoesNotMatch")
    assert await storage.head(key) is None


async def test_the_signature_of_one_key_does_not_open_another(storage: S3Storage, key: str) -> None:
    other = key.replace("/0.jpg", "/1.jpg")
    url = await storage.presign_put(key, 600)
    async with httpx.AsyncClient() as client:
        put = await client.put(url.replace("/0.jpg?", "/1.jpg?"), content=b"x")
    assert_refused(put, "SignatureDoesNotMatch")
    assert await storage.head(other) is None


async def test_a_longer_expiry_than_signed_is_refused(storage: S3Storage, key: str) -> None:
    await storage.put_bytes(key, PNG_BYTES, "image/jpeg")
    url = await storage.presign_get(key, 60)
    async with httpx.AsyncClient() as client:
        got = await client.get(with_query(url, **{"X-Amz-Expires": "604800"}))
    assert_refused(got, "SignatureDoesNotMatch")


async def test_a_url_signed_with_a_wrong_secret_is_refused(
    tmp_path: Path, localstack_endpoint: str, key: str
) -> None:
    wrong = storage_from_settings(tmp_path, localstack_endpoint, s3_secret_access_key="wrong")
    try:
        url = await wrong.presign_put(key, 600)
    finally:
        await wrong.close()
    async with httpx.AsyncClient() as client:
        put = await client.put(url, content=b"x")
    assert_refused(put, "SignatureDoesNotMatch")


async def test_an_expired_url_is_refused_for_its_age_not_its_signature(
    storage: S3Storage, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.put_bytes(key, PNG_BYTES, "image/jpeg")
    an_hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: an_hour_ago)
    expired = await storage.presign_get(key, 60)
    still_valid = await storage.presign_get(key, 7200)
    monkeypatch.undo()
    assert dict(parse_qsl(urlsplit(expired).query))["X-Amz-Date"] == an_hour_ago.strftime(
        "%Y%m%dT%H%M%SZ"
    )
    async with httpx.AsyncClient() as client:
        refused = await client.get(expired)
        # signed at the same past moment with a longer life: the signature itself is good
        accepted = await client.get(still_valid)
    assert_refused(refused, "Request has expired")
    assert accepted.status_code == 200, accepted.text
    assert accepted.content == PNG_BYTES


async def test_the_signed_region_and_host_cannot_be_swapped(storage: S3Storage, key: str) -> None:
    # LocalStack, unlike AWS, serves a bucket to URLs signed for any region, so what is
    # checked here is that the region of the credential scope and the host are signed
    await storage.put_bytes(key, PNG_BYTES, "image/jpeg")
    url = await storage.presign_get(key, 600)
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"]
    assert credential.endswith(f"/{REGION}/s3/aws4_request")
    other_region = credential.replace(f"/{REGION}/", "/eu-west-1/")
    other_host = url.replace("://127.0.0.1:", "://localhost:")
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        region_swapped = await client.get(with_query(url, **{"X-Amz-Credential": other_region}))
        host_swapped = await client.get(other_host)
    assert_refused(region_swapped, "SignatureDoesNotMatch")
    assert_refused(host_swapped, "SignatureDoesNotMatch")
