"""The job state machine, declared once (API.md §4)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life."""

    CREATED = "created"  # credits reserved, waiting for the client's uploads
    UPLOADED = "uploaded"  # every input verified in storage
    QUEUED = "queued"  # message written to the queue, no result yet
    RUNNING = "running"  # at least one item result recorded
    DONE = "done"  # every item has a result, at least one succeeded
    FAILED = "failed"  # every item failed, or dispatch gave up, or it timed out
    CANCELED = "canceled"  # stopped by the user or the stale-job sweeper


class ItemStatus(StrEnum):
    """Where one image of a job is."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE = frozenset(JobStatus) - TERMINAL

# the states a transition into the key may start from
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.UPLOADED: frozenset({JobStatus.CREATED}),
    JobStatus.QUEUED: frozenset({JobStatus.UPLOADED}),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED}),
    JobStatus.DONE: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.CANCELED: ACTIVE,
}
