"""Wire shapes of analyses: the analyze request, its callback, `job.analysis` and selections."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from s3api.common.json_types import JsonInt
from s3api.presets.edits import ConceptEdit

MAX_INSTANCES_PER_CONCEPT = 1000
MAX_SELECTED_IDS = 1000
_KEY_LENGTH = 512


class AnalysisStatus(StrEnum):
    """A job's analysis as a whole."""

    RUNNING = "running"  # a run is in flight: its items are being segmented
    DONE = "done"  # the last run ended with at least one item analysed
    FAILED = "failed"  # the last run ended and every item of it failed


class AnalysisItemStatus(StrEnum):
    """One photo of the current run."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class AnalyzeRequest(BaseModel):
    """`POST /jobs/{id}/analyze` body: the concepts as for execute, or a saved rule."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": ["rule_id"], "properties": {"rule_id": {"type": "string"}}},
                {
                    "required": ["concepts"],
                    "properties": {"concepts": {"type": "object", "minProperties": 1}},
                },
            ]
        },
    )

    concepts: dict[str, ConceptEdit] | None = Field(default=None, max_length=32)
    protect: list[str] | None = Field(default=None, max_length=32)
    rule_id: str | None = Field(default=None, max_length=64)


class InstanceSummary(BaseModel):
    """One instance of a concept: its id in the label map, tight box, pixel count and score."""

    model_config = ConfigDict(extra="ignore")

    id: JsonInt = Field(ge=1, le=65535)
    bbox: list[JsonInt] = Field(min_length=4, max_length=4)
    area: JsonInt = Field(ge=1)
    score: float = Field(ge=0.0, le=1.0)


# OpenAPI does not read `ge`/`le` inside an optional `JsonInt`: state the bounds it checks
_SIDE_SCHEMA: dict[str, JsonValue] = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": 100_000}, {"type": "null"}]
}


class AnalysisCallback(BaseModel):
    """`POST /jobs/{id}/analysis/callback` body: one photo's segmentation, or why it failed."""

    model_config = ConfigDict(extra="ignore")

    analysis_id: str = Field(min_length=1, max_length=64)
    idx: JsonInt
    status: Literal["done", "failed"]
    idempotency_key: str = Field(min_length=1, max_length=256)
    error: str | None = Field(default=None, max_length=2000)
    width: JsonInt | None = Field(default=None, ge=1, le=100_000, json_schema_extra=_SIDE_SCHEMA)
    height: JsonInt | None = Field(default=None, ge=1, le=100_000, json_schema_extra=_SIDE_SCHEMA)
    masks: dict[str, str] | None = Field(default=None, max_length=64)
    instances_key: str | None = Field(default=None, max_length=_KEY_LENGTH)
    overlay_key: str | None = Field(default=None, max_length=_KEY_LENGTH)
    instances: dict[str, list[InstanceSummary]] | None = Field(default=None, max_length=64)


class AnalysisCallbackOutcome(BaseModel):
    """`POST /jobs/{id}/analysis/callback` answer."""

    processed: bool
    duplicate: bool
    analysis_status: AnalysisStatus | None


class AnalysisItemState(BaseModel):
    """One photo of `job.analysis`, with pre-signed GET URLs of what is stored for it."""

    idx: int
    status: AnalysisItemStatus
    error: str | None = None
    instances_url: str | None = None
    masks: dict[str, str] = Field(default_factory=dict)
    overlay_url: str | None = None


class AnalysisState(BaseModel):
    """`job.analysis`: null until the job is first analysed."""

    status: AnalysisStatus
    concepts: list[str]
    items: list[AnalysisItemState]


class AnalysisAnswer(BaseModel):
    """`POST /jobs/{id}/analyze` answer: whether a run was queued, and the analysis now."""

    queued: bool
    analysis: AnalysisState


class InstanceChoice(BaseModel):
    """Which instances of one concept an edit touches (`only`/`exclude`) or keeps (`lock`)."""

    model_config = ConfigDict(extra="forbid")

    only: list[JsonInt] | None = Field(default=None, max_length=MAX_SELECTED_IDS)
    exclude: list[JsonInt] | None = Field(default=None, max_length=MAX_SELECTED_IDS)
    lock: list[JsonInt] | None = Field(default=None, max_length=MAX_SELECTED_IDS)


InstanceSelection = dict[str, dict[str, InstanceChoice]]
"""`{"<idx>": {"<Concept>": InstanceChoice}}` as execute and rerun accept it."""


class SegmentationReport(BaseModel):
    """What an edit's item callback may add: the label maps it computed and stored."""

    model_config = ConfigDict(extra="ignore")

    width: JsonInt = Field(ge=1, le=100_000)
    height: JsonInt = Field(ge=1, le=100_000)
    masks: dict[str, str] = Field(max_length=64)
    instances_key: str = Field(max_length=_KEY_LENGTH)
    instances: dict[str, list[InstanceSummary]] = Field(max_length=64)
