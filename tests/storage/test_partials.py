"""Temporary files of interrupted local uploads: removed by deletion and by the sweep."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from s3api.context import AppContext
from s3api.storage.local import SPOOL_BYTES, LocalStorage
from s3api.storage.partials import StalePartialSweep, partial_path_for, target_name_of
from tests.support.factories import ApiClient
from tests.support.jobs import data_of
from tests.support.object_stores import finished_job
from tests.support.storage import chunks_of, files_under, make_local_storage

KEY = "inputs/user-1/job-1/0.jpg"
OTHER_KEY = "inputs/user-1/job-1/1.jpg"
MAX_IDLE = 3600


def abandoned_upload(storage: LocalStorage, key: str) -> Path:
    """The temporary file an upload over `SPOOL_BYTES` leaves when its process is killed."""
    target = storage.root / key
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path_for(target)
    partial.write_bytes(b"\0" * (SPOOL_BYTES + 1))
    return partial


def test_a_partial_file_names_the_object_it_was_written_for() -> None:
    partial = partial_path_for(Path("/objects/inputs/u/j/0.jpg"))
    assert partial.parent == Path("/objects/inputs/u/j")
    assert target_name_of(partial.name) == "0.jpg"
    assert target_name_of("0.jpg") is None
    assert target_name_of(".0.jpg.partial") is None


async def test_a_large_upload_streams_through_a_partial_file_named_for_its_object(
    tmp_path: Path,
) -> None:
    storage = make_local_storage(tmp_path)
    storage.max_upload_bytes = 4 * SPOOL_BYTES
    seen: list[list[Path]] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\0" * (SPOOL_BYTES + 1)
        seen.append(files_under(tmp_path))
        yield b"\1"

    await storage.write_stream(KEY, chunks(), None)
    [during] = seen
    assert [target_name_of(path.name) for path in during] == ["0.jpg"]
    assert files_under(tmp_path) == [tmp_path / KEY]


async def test_deleting_an_object_removes_the_partial_files_beside_it(tmp_path: Path) -> None:
    storage = make_local_storage(tmp_path)
    await storage.write_stream(OTHER_KEY, chunks_of([b"kept"]), None)
    abandoned_upload(storage, KEY)
    other_partial = abandoned_upload(storage, OTHER_KEY)
    await storage.delete_many([KEY])
    assert files_under(tmp_path) == sorted([tmp_path / OTHER_KEY, other_partial])
    await storage.delete_many([OTHER_KEY])
    assert files_under(tmp_path) == []
    assert os.listdir(tmp_path) == []  # empty directories go too


async def test_the_sweep_removes_partial_files_idle_longer_than_the_setting(
    tmp_path: Path,
) -> None:
    storage = make_local_storage(tmp_path)
    await storage.write_stream(KEY, chunks_of([b"object"]), None)
    partial = abandoned_upload(storage, KEY)
    written_at = partial.stat().st_mtime
    sweep = StalePartialSweep(storage.root, MAX_IDLE)
    sweep.clock = lambda: written_at + MAX_IDLE - 1
    assert await sweep.remove_stale_partials() == 0
    assert partial.exists()
    sweep.clock = lambda: written_at + MAX_IDLE + 1
    assert await sweep.remove_stale_partials() == 1
    assert files_under(tmp_path) == [tmp_path / KEY]


async def test_one_sweep_removes_at_most_its_limit(tmp_path: Path) -> None:
    storage = make_local_storage(tmp_path)
    for idx in range(3):
        abandoned_upload(storage, f"inputs/user-1/job-1/{idx}.jpg")
    sweep = StalePartialSweep(storage.root, MAX_IDLE, limit=2)
    sweep.clock = lambda: time.time() + MAX_IDLE + 1
    assert await sweep.remove_stale_partials() == 2
    assert await sweep.remove_stale_partials() == 1
    assert files_under(tmp_path) == []


async def test_job_and_account_deletion_remove_partial_files_of_their_objects(
    api: ApiClient, context: AppContext
) -> None:
    storage = context.storage
    assert isinstance(storage, LocalStorage)
    user = await api.sign_in()
    deleted_job = await finished_job(api, context, user, 1)
    account_job = await finished_job(api, context, user, 1)
    for job_id in (deleted_job, account_job):
        abandoned_upload(storage, f"inputs/{user.user_id}/{job_id}/0.jpg")
        abandoned_upload(storage, f"outputs/{user.user_id}/{job_id}/0_result.png")
    data_of(await api.http.delete(f"/jobs/{deleted_job}", headers=user.headers))
    assert [path for path in files_under(storage.root) if deleted_job in str(path)] == []
    assert [path for path in files_under(storage.root) if account_job in str(path)] != []
    data_of(await api.http.delete("/me", headers=user.headers))
    assert [path for path in files_under(storage.root) if user.user_id in str(path)] == []


async def test_the_background_pass_sweeps_stale_partial_files_of_local_storage(
    api: ApiClient, context: AppContext
) -> None:
    storage = context.storage
    assert isinstance(storage, LocalStorage)
    assert context.background.partials is not None
    assert context.background.orphans is None
    assert context.background.partials.max_idle_seconds == (
        context.settings.partial_upload_max_idle_seconds
    )
    partial = abandoned_upload(storage, KEY)
    assert (await context.background.run_pass()).partials_removed == 0
    idle = context.settings.partial_upload_max_idle_seconds
    context.background.partials.clock = lambda: time.time() + idle + 1
    assert (await context.background.run_pass()).partials_removed == 1
    assert not partial.exists()
