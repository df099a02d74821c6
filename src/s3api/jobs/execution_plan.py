"""ExecutionPlan: the validated edits a job is queued with, and what queueing also writes.

A job is queued by `uploaded → queued` or made queued by a re-run; both write the plan's
instance selection and the output set it asks for in the queueing transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.common.output_formats import OutputFormat
from s3api.ids import new_id
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.messages import StoredMasks
from s3api.jobs.analysis.selection import SelectionByInput
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.variants import Variant, edited_concepts, variant_keys
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.timeutil import utcnow


@dataclass(frozen=True)
class ExecutionPlan:
    """Validated edits for `uploaded → queued`."""

    concepts: dict[str, dict[str, str | None]]
    protect: list[str]
    rule_id: str | None
    output_template: str | None
    watermark: dict[str, Any] | None = None
    """The free plan's watermark spec for the queue message, or None for clean results."""
    output_format: OutputFormat = OutputFormat.PNG
    # the stored label maps of the photos' inputs, and the instance selection, by input key
    stored_masks: StoredMasks = field(default_factory=dict)
    selection: SelectionByInput = field(default_factory=dict)
    variants: list[Variant] | None = None
    """The edits every photo is rendered in (drafts, options); None for `concepts` alone."""

    @property
    def renders_per_photo(self) -> int:
        """Edits rendered, and charged, per photo."""
        return len(self.variants) if self.variants else 1

    @property
    def first_edit(self) -> dict[str, dict[str, str | None]]:
        """What an item's own result is rendered with: variant 0, or the concepts."""
        return self.variants[0].concepts if self.variants else self.concepts

    @property
    def edited(self) -> list[str]:
        """Every concept some render of a photo edits."""
        return edited_concepts(self.concepts, self.variants)


MessageBuilder = Callable[[JobRecord, list[ItemRecord], ExecutionPlan], dict[str, Any]]


async def ask_for_output_set(
    connection: AsyncConnection, job_id: str, items: list[ItemRecord], plan: ExecutionPlan
) -> None:
    """A pending set for a job queued with a template, holding the watermark chosen now and
    the variants (with their keys, by idx) its photos are rendered in."""
    if plan.output_template is None:
        return
    variants = None
    keys = None
    if plan.variants:
        variants = [variant.to_json() for variant in plan.variants]
        ordered = sorted(items, key=lambda item: item.idx)
        keys = [variant_keys(item.output_key, len(plan.variants)) for item in ordered]
    await sets_repository.insert_set(
        connection,
        job_id,
        new_id(),
        plan.output_template,
        plan.watermark,
        utcnow(),
        variants=variants,
        variant_keys=keys,
    )


async def store_selection(
    connection: AsyncConnection, job_id: str, items: list[ItemRecord], plan: ExecutionPlan
) -> None:
    """Keep the instance selection of a job being queued, by the job's own idx."""
    chosen = {
        str(item.idx): plan.selection[item.input_key]
        for item in items
        if item.input_key in plan.selection
    }
    if chosen:
        await analysis_repository.store_selection(connection, job_id, chosen)
