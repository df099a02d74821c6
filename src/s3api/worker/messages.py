"""The GPU message of API.md §6 as the worker reads it (delivered with per-item URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from s3api.common.output_formats import OutputFormat
from s3api.presets.catalog import CUSTOM_PRESET_ID

if TYPE_CHECKING:
    # imported when used: the watermark module pulls in the engine, which a message
    # parser (`worker.dispatch`, imported first by the pull loop) must not need to load
    from s3api.worker.compose.watermark import Watermark

ANALYSIS_KIND = "analysis"
"""`kind` of an analysis message; an edit message has none."""

InstanceListing = dict[str, Any]
"""One instance as the instances file lists it: `{id, bbox, area, score}`."""


class SignedObject(BaseModel):
    """A storage key and its pre-signed URL (GET or PUT, as the message says)."""

    model_config = ConfigDict(extra="ignore")

    key: str
    url: str


class SegmentationMask(SignedObject):
    """A concept's label map for an edit: stored (GET `url`) or to be stored (PUT `url`)."""

    stored: bool


class Segmentation(BaseModel):
    """An edit item's stored segmentation and where to store what is missing."""

    model_config = ConfigDict(extra="ignore")

    masks: dict[str, SegmentationMask] = Field(default_factory=dict)
    known_instances: dict[str, list[InstanceListing]] = Field(default_factory=dict)
    instances_key: str | None = None
    instances_url: str | None = None


class InstanceChoice(BaseModel):
    """A photo's selection for one concept (API.md, choosing instances)."""

    model_config = ConfigDict(extra="ignore")

    only: list[int] | None = None
    exclude: list[int] = Field(default_factory=list)
    lock: list[int] = Field(default_factory=list)


class WorkItem(BaseModel):
    """One photo of a job, with the pre-signed URLs the delivery added."""

    model_config = ConfigDict(extra="ignore")

    idx: int = Field(ge=0)
    input_url: str
    output_url: str
    preview_url: str
    output_key: str
    preview_key: str
    segmentation: Segmentation | None = None
    instances: dict[str, InstanceChoice] = Field(default_factory=dict)
    variant_keys: list[str] = Field(default_factory=list)
    variant_urls: list[str] = Field(default_factory=list)
    """Where variants 1…n−1 of the message's `variants` go (PUT), in order."""


class VariantSpec(BaseModel):
    """One edit a template renders of every photo (a draft's style, an option colour)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    label: str
    # loose like the message's `concepts`: a bad rule fails the items, not the message
    concepts: dict[str, Any]


class WatermarkSpec(BaseModel):
    """The free plan's watermark as the server chose it for this job."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=60)
    box: tuple[float, float, float, float]
    """left, top, width, height in fractions of the result's width and height."""
    opacity: float = Field(gt=0, le=1)

    def to_watermark(self) -> Watermark:
        """The engine's form of the spec."""
        from s3api.worker.compose.watermark import Watermark

        return Watermark(text=self.text, box=self.box, opacity=self.opacity)


class WorkMessage(BaseModel):
    """One job: its edit rules, its items and where to report each item."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    preset: str | None = None
    # Left loose on purpose: a malformed rule fails its items with a reason, not the message.
    concepts: dict[str, Any]
    protect: list[str] = Field(default_factory=list)
    # absent in messages written before formats existed: those results are PNG
    output_format: OutputFormat = OutputFormat.PNG
    items: list[WorkItem]
    callback_url: str
    idempotency_prefix: str | None = None
    batch_concurrency: int = Field(default=4, ge=1)
    watermark: WatermarkSpec | None = None
    """Set for free-plan jobs: results and previews carry it; None means clean results."""
    variants: list[VariantSpec] = Field(default_factory=list)
    """Drafts or options: variant 0 is `concepts`, each item stores the others."""

    @property
    def uses_custom_concepts(self) -> bool:
        """Whether the concepts are free noun phrases that only a model can segment."""
        return self.preset == CUSTOM_PRESET_ID

    @property
    def effective_protect(self) -> list[str]:
        """The message's protect list as it is: the API resolved the preset's defaults when
        the request sent none, so a sent `[]` protects nothing."""
        return list(dict.fromkeys(self.protect))

    @property
    def result_watermark(self) -> Watermark | None:
        """The watermark the engine stamps on every result of this job, if any."""
        return None if self.watermark is None else self.watermark.to_watermark()

    def idempotency_key(self, idx: int, attempt: int) -> str:
        """`{job_id}:{idx}:{attempt}`: one key per item and delivery."""
        return f"{self.idempotency_prefix or self.job_id}:{idx}:{attempt}"


class AnalysisItem(BaseModel):
    """One photo of an analysis: its missing concepts and where everything goes."""

    model_config = ConfigDict(extra="ignore")

    idx: int = Field(ge=0)
    input_url: str
    concepts: list[str] = Field(min_length=1)
    masks: dict[str, SignedObject]
    known_masks: dict[str, SignedObject] = Field(default_factory=dict)
    known_instances: dict[str, list[InstanceListing]] = Field(default_factory=dict)
    instances_key: str
    instances_url: str
    overlay_key: str
    overlay_url: str


class AnalysisMessage(BaseModel):
    """Segmentation only: each item's concepts into label maps, instances file and overlay."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["analysis"]
    analysis_id: str
    job_id: str
    preset: str | None = None
    concepts: list[str]
    items: list[AnalysisItem]
    callback_url: str
    idempotency_prefix: str | None = None
    batch_concurrency: int = Field(default=4, ge=1)

    @property
    def uses_custom_concepts(self) -> bool:
        """Whether the concepts are free noun phrases that only a model can segment."""
        return self.preset == CUSTOM_PRESET_ID

    def idempotency_key(self, idx: int, attempt: int) -> str:
        """`{analysis_id}:{idx}:{attempt}`: one key per photo and delivery."""
        return f"{self.idempotency_prefix or self.analysis_id}:{idx}:{attempt}"
