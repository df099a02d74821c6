"""JobRecord and ItemRecord: the rows of `jobs` and `job_items` as the services see them.

They sit apart from the queries so that the data layers of `jobs/analysis` and
`jobs/output_sets` can read them without reaching into the job statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from s3api.common.output_formats import OutputFormat
from s3api.jobs.states import ItemStatus, JobStatus


@dataclass(frozen=True)
class JobRecord:
    """A job row as the services see it."""

    id: str
    user_id: str
    preset: str
    status: JobStatus
    total_items: int
    done_items: int
    failed_items: int
    concepts: dict[str, Any] | None
    protect: list[str] | None
    refunded: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    parent_job_id: str | None
    expired_at: datetime | None
    output_format: OutputFormat


@dataclass(frozen=True)
class ItemRecord:
    """One item row."""

    idx: int
    status: ItemStatus
    input_key: str
    output_key: str
    preview_key: str
    error: str | None
