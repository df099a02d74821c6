"""Retention: the objects of jobs that ended long ago are removed; their rows stay, expired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from s3api.jobs.lifecycle import JobLifecycle
from s3api.storage.base import ObjectStorage
from s3api.timeutil import utcnow


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
