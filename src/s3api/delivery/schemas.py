"""Wire shapes of the worker-facing queue routes (API.md §6)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from s3api.common.json_types import JsonInt
from s3api.timeutil import Timestamp


class PullRequest(BaseModel):
    """`POST /queues/gpu-jobs/pull` body."""

    model_config = ConfigDict(extra="ignore")

    batch_size: JsonInt = Field(default=1, ge=1, le=10)
    visibility_timeout_seconds: JsonInt = Field(default=300, ge=1, le=3600)


class PulledMessage(BaseModel):
    """A leased message with its body and per-item URLs."""

    id: str
    lease_id: str
    attempts: int
    timestamp_ms: int
    body: dict[str, Any]


class PullResult(BaseModel):
    """`{messages: [...]}`."""

    messages: list[PulledMessage]


class LeaseAck(BaseModel):
    """Acknowledge one lease."""

    lease_id: str = Field(min_length=1, max_length=64)


class LeaseRetry(BaseModel):
    """Deliver a leased message again after a delay."""

    lease_id: str = Field(min_length=1, max_length=64)
    delay_seconds: JsonInt = Field(default=0, ge=0, le=43200)
    error: str | None = Field(default=None, max_length=500)


class AckRequest(BaseModel):
    """`POST /queues/gpu-jobs/ack` body."""

    model_config = ConfigDict(extra="ignore")

    acks: list[LeaseAck] = Field(default_factory=list, max_length=100)
    retries: list[LeaseRetry] = Field(default_factory=list, max_length=100)


class AckResult(BaseModel):
    """How many acks and retries applied to live leases."""

    acked: int
    retried: int


class DeadLetterPublic(BaseModel):
    """A dead-lettered message for operators."""

    id: str
    job_id: str
    attempts: int
    last_error: str | None
    created_at: Timestamp
    body: dict[str, Any]


class DeadLetterList(BaseModel):
    """`GET /queues/gpu-jobs/dlq`."""

    messages: list[DeadLetterPublic]
