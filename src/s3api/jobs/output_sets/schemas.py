"""Wire shapes of output sets: `job.output_set` and the set callback."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from s3api.common.json_types import JsonInt

MAX_SET_FILES = 2000
_KEY_LENGTH = 512


class OutputSetStatus(StrEnum):
    """A set's assembly."""

    PENDING = "pending"  # asked for; assembled once the job ends with a photo done
    READY = "ready"  # every file and the zip are stored
    FAILED = "failed"  # nothing to assemble, or the assembly gave up (see `error`)


class OutputSetFile(BaseModel):
    """One composed image of `job.output_set`, with a pre-signed GET URL."""

    name: str
    role: str
    idx: int | None = None
    url: str | None = None
    width: int
    height: int


class OutputSetState(BaseModel):
    """`job.output_set`: null for a job without an output template."""

    template: str
    status: OutputSetStatus
    error: str | None = None
    zip_url: str | None = None
    files: list[OutputSetFile] = Field(default_factory=list)


class ReportedSetFile(BaseModel):
    """One composed image as the GPU side stored it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=120)
    key: str = Field(min_length=1, max_length=_KEY_LENGTH)
    width: JsonInt = Field(ge=1, le=100_000)
    height: JsonInt = Field(ge=1, le=100_000)


class OutputSetCallback(BaseModel):
    """`POST /jobs/{id}/output-set/callback` body: the stored set, or why it failed."""

    model_config = ConfigDict(extra="ignore")

    set_id: str = Field(min_length=1, max_length=64)
    status: Literal["ready", "failed"]
    idempotency_key: str = Field(min_length=1, max_length=256)
    error: str | None = Field(default=None, max_length=2000)
    files: list[ReportedSetFile] | None = Field(default=None, max_length=MAX_SET_FILES)
    zip_key: str | None = Field(default=None, max_length=_KEY_LENGTH)


class OutputSetCallbackOutcome(BaseModel):
    """`POST /jobs/{id}/output-set/callback` answer."""

    processed: bool
    duplicate: bool
    set_status: OutputSetStatus
