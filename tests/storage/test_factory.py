"""Choosing and configuring the storage backend from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.routing import APIRoute

from s3api.common.errors import ConfigurationError
from s3api.errors import ApiError, ErrorCode
from s3api.settings import Settings, StorageBackend
from s3api.storage.base import ObjectStorage
from s3api.storage.factory import build_storage, local_object_router
from s3api.storage.local import LocalStorage, SignedOperation
from s3api.storage.s3 import S3Storage
from tests.support.storage import admit_every_upload

KEY = "inputs/user-1/job-1/0.jpg"
JWT_SECRET = "factory-tests-jwt-secret-0123456789abcdef"
NO_OBJECT_STORE: dict[str, Any] = {
    "s3_endpoint_url": None,
    "s3_region": "auto",
    "s3_bucket": None,
    "s3_access_key_id": None,
    "s3_secret_access_key": None,
    "r2_account_id": None,
    "r2_access_key_id": None,
    "r2_secret_access_key": None,
    "r2_bucket_name": None,
}
S3_VARIABLES: dict[str, Any] = {
    "s3_endpoint_url": "https://minio.test:9000",
    "s3_region": "eu-central-1",
    "s3_bucket": "photos",
    "s3_access_key_id": "s3-key-id",
    "s3_secret_access_key": "s3-secret",
}
R2_VARIABLES: dict[str, Any] = {
    "r2_account_id": "acct123",
    "r2_bucket_name": "r2-photos",
    "r2_access_key_id": "r2-key-id",
    "r2_secret_access_key": "r2-secret",
}

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings isolated from the environment's object-store variables."""

    def make(**overrides: Any) -> Settings:
        base = Settings(_env_file=None, s3api_data_dir=tmp_path, jwt_secret=JWT_SECRET)
        return base.model_copy(update={**NO_OBJECT_STORE, **overrides})

    return make


@pytest.fixture
async def built() -> AsyncIterator[list[ObjectStorage]]:
    """Collects the stores a test builds and closes them afterwards."""
    stores: list[ObjectStorage] = []
    yield stores
    for store in stores:
        await store.close()


def _signed_query(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix("/objects/"), int(query["expires"][0]), query["signature"][0]


async def test_local_backend_keeps_objects_in_the_data_dir_and_signs_public_urls(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(
        storage_backend=StorageBackend.LOCAL,
        public_base_url="https://api.example.test/",
        max_upload_bytes=5,
    )
    storage = build_storage(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.max_upload_bytes == 5
    url = await storage.presign_put(KEY, 60)
    assert url.startswith(f"https://api.example.test/objects/{KEY}?")
    await storage.put_bytes(KEY, b"data", "image/jpeg")
    assert (tmp_path / "objects" / KEY).read_bytes() == b"data"


async def test_local_urls_stay_valid_across_restarts_with_the_same_jwt_secret(
    make_settings: SettingsFactory,
) -> None:
    first = build_storage(make_settings())
    assert isinstance(first, LocalStorage)
    key, expires, signature = _signed_query(await first.presign_get(KEY, 60))
    restarted = build_storage(make_settings())
    assert isinstance(restarted, LocalStorage)
    restarted.verify(SignedOperation.GET, key, expires, signature)
    rotated = build_storage(make_settings(jwt_secret=JWT_SECRET + "-rotated"))
    assert isinstance(rotated, LocalStorage)
    with pytest.raises(ApiError) as caught:
        rotated.verify(SignedOperation.GET, key, expires, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_local_url_signing_key_is_not_the_jwt_secret(
    make_settings: SettingsFactory,
) -> None:
    storage = build_storage(make_settings())
    assert isinstance(storage, LocalStorage)
    naive = LocalStorage(storage.root, storage.base_url, JWT_SECRET.encode(), 1024)
    key, expires, signature = _signed_query(await naive.presign_get(KEY, 60))
    with pytest.raises(ApiError):
        storage.verify(SignedOperation.GET, key, expires, signature)


async def test_s3_backend_uses_the_s3_variables(
    make_settings: SettingsFactory, built: list[ObjectStorage]
) -> None:
    storage = build_storage(make_settings(storage_backend=StorageBackend.S3, **S3_VARIABLES))
    built.append(storage)
    assert isinstance(storage, S3Storage)
    url = urlsplit(await storage.presign_put(KEY, 60))
    credential = parse_qs(url.query)["X-Amz-Credential"][0]
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"https://minio.test:9000/photos/{KEY}"
    assert credential.startswith("s3-key-id/")
    assert credential.endswith("/eu-central-1/s3/aws4_request")


async def test_s3_backend_maps_the_r2_variables_to_cloudflare(
    make_settings: SettingsFactory, built: list[ObjectStorage]
) -> None:
    storage = build_storage(make_settings(storage_backend=StorageBackend.S3, **R2_VARIABLES))
    built.append(storage)
    assert isinstance(storage, S3Storage)
    url = urlsplit(await storage.presign_get(KEY, 60))
    credential = parse_qs(url.query)["X-Amz-Credential"][0]
    assert url.netloc == "acct123.r2.cloudflarestorage.com"
    assert url.path == f"/r2-photos/{KEY}"
    assert credential.startswith("r2-key-id/")
    assert credential.endswith("/auto/s3/aws4_request")


async def test_s3_variables_win_over_r2_ones(
    make_settings: SettingsFactory, built: list[ObjectStorage]
) -> None:
    settings = make_settings(storage_backend=StorageBackend.S3, **R2_VARIABLES, **S3_VARIABLES)
    storage = build_storage(settings)
    built.append(storage)
    url = urlsplit(await storage.presign_get(KEY, 60))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"https://minio.test:9000/photos/{KEY}"


async def test_aws_needs_no_endpoint_when_a_region_is_set(
    make_settings: SettingsFactory, built: list[ObjectStorage]
) -> None:
    variables = {**S3_VARIABLES, "s3_endpoint_url": None}
    storage = build_storage(make_settings(storage_backend=StorageBackend.S3, **variables))
    built.append(storage)
    url = urlsplit(await storage.presign_get(KEY, 60))
    assert url.netloc == "s3.eu-central-1.amazonaws.com"


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("s3_bucket", "S3_BUCKET (or R2_BUCKET_NAME)"),
        ("s3_access_key_id", "S3_ACCESS_KEY_ID (or R2_ACCESS_KEY_ID)"),
        ("s3_secret_access_key", "S3_SECRET_ACCESS_KEY (or R2_SECRET_ACCESS_KEY)"),
    ],
)
def test_missing_s3_variables_are_named(
    make_settings: SettingsFactory, unset: str, named: str
) -> None:
    variables = {**S3_VARIABLES, unset: None}
    with pytest.raises(ConfigurationError) as caught:
        build_storage(make_settings(storage_backend=StorageBackend.S3, **variables))
    assert named in str(caught.value)
    assert str(caught.value).count("(or ") == 1


def test_missing_location_is_named(make_settings: SettingsFactory) -> None:
    variables = {**S3_VARIABLES, "s3_endpoint_url": None, "s3_region": "auto"}
    with pytest.raises(ConfigurationError, match="S3_ENDPOINT_URL \\(or R2_ACCOUNT_ID"):
        build_storage(make_settings(storage_backend=StorageBackend.S3, **variables))


def test_no_object_store_configured_names_every_variable(make_settings: SettingsFactory) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_storage(make_settings(storage_backend=StorageBackend.S3))
    for name in ("S3_BUCKET", "R2_BUCKET_NAME", "S3_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"):
        assert name in str(caught.value)
    assert "S3_ENDPOINT_URL" in str(caught.value)


async def test_only_local_storage_gets_object_routes(
    make_settings: SettingsFactory, built: list[ObjectStorage]
) -> None:
    router = local_object_router(build_storage(make_settings()), admit_every_upload)
    assert router is not None
    served = {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert served == {
        ("PUT", "/objects/{key:path}"),
        ("GET", "/objects/{key:path}"),
        ("HEAD", "/objects/{key:path}"),
    }
    s3 = build_storage(make_settings(storage_backend=StorageBackend.S3, **S3_VARIABLES))
    built.append(s3)
    assert local_object_router(s3, admit_every_upload) is None
