"""The S3 orphan sweep: objects under jobs that no longer exist are removed, a page a pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s3api.context import AppContext
from s3api.jobs.retention import OrphanedObjectSweep
from s3api.settings import Settings
from s3api.storage.s3 import S3Storage
from tests.support.databases import make_settings
from tests.support.factories import ApiClient
from tests.support.object_stores import all_keys, existing, finished_job
from tests.support.s3_server import MOTO_BUCKET, moto_s3_server, moto_storage_environment


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3_server(MOTO_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
def settings(tmp_path: Path, database_url: str, moto_endpoint: str) -> Settings:
    environment = moto_storage_environment(moto_endpoint)
    overrides = {name.lower(): value for name, value in environment.items()}
    return make_settings(tmp_path / "data", database_url, **overrides)


async def test_objects_under_a_missing_job_are_swept_and_kept_jobs_keep_theirs(
    api: ApiClient, context: AppContext
) -> None:
    assert isinstance(context.storage, S3Storage)
    user = await api.sign_in()
    kept = await finished_job(api, context, user, 1)
    orphan_key = f"inputs/{user.user_id}/00000000-0000-4000-8000-000000000000/0.jpg"
    foreign_key = "inputs/not-our-layout.jpg"
    for key in (orphan_key, foreign_key):
        await context.storage.put_bytes(key, b"late upload", "image/jpeg")
    sweep = context.background.orphans
    assert isinstance(sweep, OrphanedObjectSweep)
    sweep.keys_per_pass = 2
    removed = 0
    for _ in range(10):  # the bucket may hold other tests' objects: walk it page by page
        removed += await sweep.remove_orphaned_objects()
        if sweep.resume_after == "":
            break
    assert sweep.resume_after == ""
    assert await existing(context, [orphan_key]) == []
    assert await existing(context, [foreign_key]) == [foreign_key]
    assert await existing(context, all_keys(user, kept, 1)) == all_keys(user, kept, 1)
    assert removed >= 1
