"""Retention: the objects of jobs that ended long ago are removed; their rows stay, expired.
Objects left under jobs that no longer exist are removed too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from s3api.db.engine import Database
from s3api.jobs import repository
from s3api.jobs.lifecycle import JobLifecycle
from s3api.storage.base import KeyListing, ObjectStorage
from s3api.storage.keys import owner_of_key
from s3api.timeutil import utcnow

ORPHAN_KEYS_PER_PASS = 1000
"""Keys the orphan sweep reads per pass: one `ListObjectsV2` page, one `DeleteObjects` call."""


class JobRetention:
    """Removes results, previews and unshared inputs of terminal jobs after `retention_days`.

    Each job is expired in its own transaction, under its user's lock: a re-run started at
    the same moment either sees the job expired or keeps the inputs alive, and a store that
    fails leaves the job unexpired for the next pass.
    """

    def __init__(
        self, lifecycle: JobLifecycle, storage: ObjectStorage, retention_days: int
    ) -> None:
        self.lifecycle = lifecycle
        self.storage = storage
        self.retention_days = retention_days
        # replaceable, so tests move past the retention period without waiting
        self.clock: Callable[[], datetime] = utcnow

    async def expire_old_jobs(self, now: datetime | None = None, limit: int = 100) -> int:
        """One pass over at most `limit` jobs; returns how many expired (0 keeps forever)."""
        if self.retention_days <= 0:
            return 0
        ended_before = (now or self.clock()) - timedelta(days=self.retention_days)
        expired = 0
        for job_id in await self.lifecycle.expirable_jobs(ended_before, limit):
            expired += await self.lifecycle.expire_job(
                job_id, ended_before, self.storage.delete_many
            )
        return expired


class OrphanedObjectSweep:
    """Removes objects that lie under a job that no longer exists, a page of keys a pass.

    A pre-signed S3 PUT cannot be revoked: one kept past `DELETE /jobs/{id}` or `DELETE /me`
    still stores its object under the deleted job. Each pass reads the next `keys_per_pass`
    keys of the bucket (one `ListObjectsV2` page), looks their jobs up in one query and
    deletes the orphans; after the last page it starts over. A job's row is committed before
    any URL under it is handed out, so a missing row means the job is gone for good.
    """

    def __init__(
        self,
        database: Database,
        listing: KeyListing,
        storage: ObjectStorage,
        keys_per_pass: int = ORPHAN_KEYS_PER_PASS,
    ) -> None:
        self.database = database
        self.listing = listing
        self.storage = storage
        self.keys_per_pass = keys_per_pass
        self.resume_after = ""

    async def remove_orphaned_objects(self) -> int:
        """One pass over the next page of keys; returns how many objects it removed."""
        keys = await self.listing.list_keys(self.resume_after, self.keys_per_pass)
        owners = {key: owner for key in keys if (owner := owner_of_key(key)) is not None}
        async with self.database.read() as connection:
            existing = await repository.statuses_of(
                connection, sorted({owner.job_id for owner in owners.values()})
            )
        orphans = [key for key, owner in owners.items() if owner.job_id not in existing]
        await self.storage.delete_many(orphans)
        # a short page was the bucket's last: the next pass starts from its beginning
        self.resume_after = keys[-1] if len(keys) >= self.keys_per_pass else ""
        return len(orphans)
