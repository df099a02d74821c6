"""The GPU message of API.md §6 as the worker reads it (delivered with per-item URLs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from s3api.common.output_formats import OutputFormat
from s3api.presets.catalog import CUSTOM_PRESET_ID, PRESETS


class WorkItem(BaseModel):
    """One photo of a job, with the pre-signed URLs the delivery added."""

    model_config = ConfigDict(extra="ignore")

    idx: int = Field(ge=0)
    input_url: str
    output_url: str
    preview_url: str
    output_key: str
    preview_key: str


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

    @property
    def uses_custom_concepts(self) -> bool:
        """Whether the concepts are free noun phrases that only a model can segment."""
        return self.preset == CUSTOM_PRESET_ID

    @property
    def effective_protect(self) -> list[str]:
        """The request's protect list plus the preset's protect defaults not being edited."""
        preset = PRESETS.get(self.preset or "")
        if preset is None:
            return list(dict.fromkeys(self.protect))
        return preset.effective_protect(self.concepts, self.protect)

    def idempotency_key(self, idx: int, attempt: int) -> str:
        """`{job_id}:{idx}:{attempt}`: one key per item and delivery."""
        return f"{self.idempotency_prefix or self.job_id}:{idx}:{attempt}"
