"""Wire shapes of the jobs endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from s3api.common.json_types import JsonInt
from s3api.common.limits import MAX_ITEMS_PER_JOB
from s3api.common.output_formats import OutputFormat
from s3api.jobs.analysis.schemas import AnalysisState, InstanceChoice, SegmentationReport
from s3api.jobs.output_sets.plan import DRAFT_PACK, OPTION_BOARD
from s3api.jobs.output_sets.schemas import OutputSetState
from s3api.jobs.states import ItemStatus, JobStatus
from s3api.presets.catalog import PRESETS
from s3api.presets.edits import ConceptEdit
from s3api.timeutil import Timestamp

# what the service accepts in development: an http(s) URL naming a host (production: https)
WEBHOOK_URL_PATTERN = r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,4})?(/[!-~]*)?$"


class JobCreate(BaseModel):
    """`POST /jobs` body; fields are checked by the service so errors come in API order."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["preset", "item_count"],
            "dependentRequired": {"webhook_events": ["webhook_url"]},
        },
    )

    preset: Any = Field(
        default=None,
        json_schema_extra={"type": "string", "enum": cast(list[JsonValue], sorted(PRESETS))},
    )
    item_count: Any = Field(
        default=None,
        json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_ITEMS_PER_JOB},
    )
    webhook_url: Any = Field(
        default=None,
        description="Called when the job ends (https in production)",
        json_schema_extra={
            "type": "string",
            "maxLength": 2048,
            "pattern": WEBHOOK_URL_PATTERN,
        },
    )
    webhook_events: Any = Field(
        default=None,
        description='Subset of ["job.completed", "item.completed"]; default ["job.completed"]',
        json_schema_extra={
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": ["job.completed", "item.completed"]},
        },
    )


class UploadUrl(BaseModel):
    """Where the client PUTs item `idx`."""

    idx: int
    url: str
    key: str


class JobCreated(BaseModel):
    """`POST /jobs` answer."""

    job_id: str
    status: JobStatus
    presigned_urls: list[UploadUrl]
    confirm_url: str
    expires_at: Timestamp


class UploadConfirmed(BaseModel):
    """`POST /jobs/{id}/confirm-upload` answer."""

    confirmed: bool
    status: JobStatus


class JobExecute(BaseModel):
    """`POST /jobs/{id}/execute` body: inline edits or a saved rule."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": ["rule_id"], "properties": {"rule_id": {"type": "string"}}},
                {
                    "required": ["concepts"],
                    "properties": {"concepts": {"type": "object", "minProperties": 1}},
                },
                {
                    "required": ["output_template"],
                    "properties": {"output_template": {"enum": [DRAFT_PACK, OPTION_BOARD]}},
                },
            ]
        },
    )

    concepts: dict[str, ConceptEdit] | None = Field(default=None, max_length=32)
    protect: list[str] | None = Field(default=None, max_length=32)
    rule_id: str | None = Field(default=None, max_length=64)
    output_template: str | None = Field(default=None, max_length=64)
    output_format: Any = Field(
        default=None,
        description="How the results are encoded: png (lossless, the default), jpeg or webp",
        json_schema_extra={
            "type": "string",
            "enum": cast(list[JsonValue], [output_format.value for output_format in OutputFormat]),
            "default": OutputFormat.PNG.value,
        },
    )
    options: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None,
        max_length=8,
        description="옵션보드 only: 2 to 8 recolor values (#RRGGBB or colour names), "
        "the product's Body rendered in each, in this order",
    )
    instances: dict[str, dict[str, InstanceChoice]] | None = Field(
        default=None,
        max_length=MAX_ITEMS_PER_JOB,
        description='Per photo and concept: {"<idx>": {"<Concept>": {only?, exclude?, lock?}}}',
    )


class JobRerun(JobExecute):
    """`POST /jobs/{id}/rerun` body: new edits for every item, or only the failed ones."""

    items: Literal["all", "failed"] = "all"


class JobRerunQueued(BaseModel):
    """`POST /jobs/{id}/rerun` answer."""

    job_id: str
    status: str
    parent_job_id: str
    item_count: int


class JobDeleted(BaseModel):
    """`DELETE /jobs/{id}` answer."""

    deleted: bool


class JobQueued(BaseModel):
    """`POST /jobs/{id}/execute` answer."""

    queued: bool
    status: JobStatus


class Progress(BaseModel):
    """Item counts of a job."""

    done: int
    failed: int
    total: int


class JobSummary(BaseModel):
    """One entry of `GET /jobs`."""

    job_id: str
    status: JobStatus
    preset: str
    created_at: Timestamp
    updated_at: Timestamp
    progress: Progress


class ItemState(BaseModel):
    """One item of `GET /jobs/{id}`."""

    idx: int
    status: ItemStatus
    error: str | None = None


class DownloadUrl(BaseModel):
    """Fresh pre-signed URLs of a done item."""

    idx: int
    output_url: str
    preview_url: str


class WebhookState(BaseModel):
    """The job's webhook and how its last delivery went."""

    url: str
    events: list[str]
    last_status: str | None
    last_attempt_at: Timestamp | None
    last_response_code: int | None
    last_error: str | None
    attempts: int


class JobDetail(BaseModel):
    """`GET /jobs/{id}` job object."""

    job_id: str
    status: JobStatus
    preset: str
    total_items: int
    done_items: int
    failed_items: int
    progress: Progress
    items: list[ItemState]
    download_urls: list[DownloadUrl]
    refunded: int
    parent_job_id: str | None = None
    output_format: OutputFormat = OutputFormat.PNG
    expired: bool = False
    created_at: Timestamp
    updated_at: Timestamp
    webhook: WebhookState | None = None
    analysis: AnalysisState | None = None
    output_set: OutputSetState | None = None


class JobEnvelope(BaseModel):
    """`{job}`."""

    job: JobDetail


class CallbackBody(BaseModel):
    """`POST /jobs/{id}/callback` body from the GPU side."""

    model_config = ConfigDict(extra="ignore")

    idx: JsonInt
    status: Literal["done", "failed"]
    output_key: str | None = Field(default=None, max_length=512)
    preview_key: str | None = Field(default=None, max_length=512)
    error: str | None = Field(default=None, max_length=2000)
    idempotency_key: str = Field(min_length=1, max_length=256)
    segmentation: SegmentationReport | None = None


class CallbackOutcome(BaseModel):
    """`POST /jobs/{id}/callback` answer."""

    processed: bool
    duplicate: bool
    job_status: JobStatus


class JobCanceled(BaseModel):
    """`POST /jobs/{id}/cancel` answer."""

    canceled: bool
    status: JobStatus
    refunded: int
