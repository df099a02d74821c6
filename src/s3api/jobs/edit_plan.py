"""The edits of an execute or re-run body, validated into an ExecutionPlan.

Edits come from a saved rule or the inline body; a template that renders variants of every
photo (`시안3안팩`'s drafts, `옵션보드`'s options) may stand in for inline edits. The plan's
template is gated by the user's plan at this moment, which also decides the watermark.
"""

from __future__ import annotations

from collections.abc import Mapping

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs.execution_plan import ExecutionPlan
from s3api.jobs.output_formats import checked_output_format
from s3api.jobs.output_sets.variants import edited_concepts, plan_variants, renders_template
from s3api.jobs.plan_outputs import PlanOutputs
from s3api.jobs.records import JobRecord
from s3api.jobs.schemas import JobExecute
from s3api.presets.catalog import OutputTemplate, Preset, find_preset
from s3api.presets.edits import (
    AnyConceptEdit,
    check_edits_for_preset,
    check_stored_edits,
    edits_to_json,
)
from s3api.rules import repository as rules_repository
from s3api.users import repository as users_repository
from s3api.users.plans import DEFAULT_PLAN


def _template_of(preset: Preset, template_id: str | None) -> OutputTemplate | None:
    """The preset's template of that id; 400 for one the preset does not have."""
    if template_id is None:
        return None
    for template in preset.output_templates:
        if template.id == template_id:
            return template
    raise ApiError(
        ErrorCode.VALIDATION_FAILED,
        "Unknown output_template for this preset",
        {"output_templates": sorted(template.id for template in preset.output_templates)},
    )


async def plan_edits(
    database: Database,
    plan_outputs: PlanOutputs,
    user_id: str,
    job: JobRecord,
    payload: JobExecute,
) -> ExecutionPlan:
    """Edits from the saved rule or the inline body, validated for the job's preset, with
    the variants the template renders and the plan's gate and watermark."""
    preset = find_preset(job.preset)
    template = _template_of(preset, payload.output_template)
    concepts: Mapping[str, AnyConceptEdit]
    sent_protect: list[str] | None
    if payload.rule_id is not None:
        async with database.read() as connection:
            rule = await rules_repository.find_rule(connection, user_id, payload.rule_id)
        if rule is None:
            raise ApiError(ErrorCode.RULE_NOT_FOUND)
        if rule.preset_id != job.preset:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                f"Rule is for preset '{rule.preset_id}', the job for '{job.preset}'",
            )
        check_stored_edits(rule.concepts, "rule.concepts")
        # a rule stores the list it protects, its defaults resolved when it was saved
        concepts, sent_protect = rule.concepts, list(rule.protect)
    else:
        if not payload.concepts and not renders_template(template):
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "concepts must not be empty without rule_id",
                {"fields": [{"field": "concepts", "message": "required"}]},
            )
        concepts, sent_protect = payload.concepts or {}, payload.protect
    base = edits_to_json(concepts)
    variants = plan_variants(template, base, payload.options)
    edited = edited_concepts(base, variants)
    # a rule's list is kept as saved; a body's defaults leave out what the renders edit
    protect = (
        list(sent_protect or [])
        if payload.rule_id is not None
        else preset.requested_protect(sent_protect, edited)
    )
    check_edits_for_preset(preset, dict.fromkeys(edited), protect)
    async with database.read() as connection:
        user = await users_repository.find_user(connection, user_id)
    plan = DEFAULT_PLAN if user is None else user.plan
    plan_outputs.check_template(plan, preset, payload.output_template)
    return ExecutionPlan(
        concepts=base,
        protect=protect,
        rule_id=payload.rule_id,
        output_template=payload.output_template,
        watermark=plan_outputs.watermark_for(plan),
        output_format=checked_output_format(payload.output_format),
        variants=variants,
    )
