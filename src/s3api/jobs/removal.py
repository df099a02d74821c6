"""What removing a job takes from storage: the objects no kept job reads any more.

Deletion and retention both remove these keys before their transaction commits, so a store
that fails leaves the job in place to be retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.jobs import item_repository, removal_repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.records import JobRecord

ObjectRemover = Callable[[list[str]], Awaitable[None]]
"""Removes objects from storage (`ObjectStorage.delete_many`)."""


async def unshared_object_keys(connection: AsyncConnection, job: JobRecord) -> list[str]:
    """The job's outputs, previews, analysis overlays and set files, and the inputs that no
    other kept job reads with their label maps and instances files (whose records go with
    them)."""
    items = await item_repository.find_items(connection, job.id)
    inputs = sorted({item.input_key for item in items})
    shared = await removal_repository.inputs_used_elsewhere(connection, inputs, job.id)
    unshared = [key for key in inputs if key not in shared]
    keys = list(unshared)
    for item in items:
        keys += [item.output_key, item.preview_key]
    keys += await analysis_repository.take_mask_keys(
        connection, job.user_id, job.id, len(items), unshared
    )
    output_set = await sets_repository.find_set(connection, job.id)
    if output_set is not None:
        keys += sets_repository.object_keys(output_set)
    return keys
