"""Test apps on either object store: local files or an S3 bucket on moto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from s3api.context import AppContext
from s3api.settings import Settings
from s3api.storage.local import LocalStorage
from s3api.storage.s3 import S3Storage
from tests.support.databases import make_settings
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes
from tests.support.s3_server import moto_storage_environment

STORAGE_KINDS = ["local", "s3"]


def settings_on_storage(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, **overrides: Any
) -> Settings:
    """Test settings whose objects live where `request.param` says (`moto_endpoint` for S3)."""
    if request.param == "s3":
        endpoint = str(request.getfixturevalue("moto_endpoint"))
        environment = moto_storage_environment(endpoint)
        overrides.update({name.lower(): value for name, value in environment.items()})
    return make_settings(tmp_path / "data", database_url, **overrides)


async def put_inputs(context: AppContext, created: dict[str, Any]) -> None:
    """Store a JPEG under every upload key of a created job, as the client's PUTs would."""
    for entry in created["presigned_urls"]:
        await context.storage.put_bytes(entry["key"], jpeg_bytes(), "image/jpeg")


async def put_results(context: AppContext, user: SignedIn, job_id: str, count: int) -> None:
    """Store the result and preview objects the GPU side writes for items `0..count-1`."""
    for idx in range(count):
        output = f"outputs/{user.user_id}/{job_id}/{idx}_result.png"
        preview = f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg"
        await context.storage.put_bytes(output, b"png-bytes", "image/png")
        await context.storage.put_bytes(preview, jpeg_bytes(), "image/jpeg")


async def existing(context: AppContext, keys: list[str]) -> list[str]:
    """Those of `keys` that name an object in the app's store."""
    return [key for key in keys if await context.storage.head(key) is not None]


async def queued_job(api: ApiClient, context: AppContext, user: SignedIn, item_count: int) -> str:
    """A job taken through create, upload (straight into storage), confirm and execute."""
    created = await api.create_job(user, item_count)
    job_id: str = created["job_id"]
    await put_inputs(context, created)
    assert (await api.confirm(user, job_id)).status_code == 200
    assert (await api.execute(user, job_id)).status_code == 202
    return job_id


async def finished_job(
    api: ApiClient,
    context: AppContext,
    user: SignedIn,
    item_count: int = 2,
    failed: tuple[int, ...] = (),
) -> str:
    """A job taken through create, upload, confirm, execute and one callback per item, with
    its inputs, results and previews in storage; items in `failed` fail. Returns its id."""
    job_id = await queued_job(api, context, user, item_count)
    await put_results(context, user, job_id, item_count)
    for idx in range(item_count):
        status = "failed" if idx in failed else "done"
        response = await api.callback(job_id, user.user_id, idx, status=status, error="boom")
        assert response.status_code == 200, response.text
    return job_id


def object_keys(user: SignedIn, job_id: str, item_count: int) -> dict[str, list[str]]:
    """The input, output and preview keys a job of `item_count` items writes."""
    return {
        "inputs": [f"inputs/{user.user_id}/{job_id}/{idx}.jpg" for idx in range(item_count)],
        "outputs": [
            f"outputs/{user.user_id}/{job_id}/{idx}_result.png" for idx in range(item_count)
        ],
        "previews": [
            f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg" for idx in range(item_count)
        ],
    }


def all_keys(user: SignedIn, job_id: str, item_count: int) -> list[str]:
    """Every object key a job of `item_count` items writes."""
    keys = object_keys(user, job_id, item_count)
    return keys["inputs"] + keys["outputs"] + keys["previews"]


@contextmanager
def failing_deletes(context: AppContext, user: SignedIn, job_id: str) -> Iterator[None]:
    """The store fails to delete the job's outputs: locally a file stands where their
    directory was, on S3 the store is pointed at a bucket that does not exist."""
    storage = context.storage
    if isinstance(storage, LocalStorage):
        directory = storage.root / "outputs" / user.user_id / job_id
        aside = directory.with_name(f"{job_id}.aside")
        directory.rename(aside)
        directory.write_bytes(b"")
        try:
            yield
        finally:
            directory.unlink()
            aside.rename(directory)
        return
    assert isinstance(storage, S3Storage)
    bucket, storage.bucket = storage.bucket, "s3api-no-such-bucket"
    try:
        yield
    finally:
        storage.bucket = bucket
