"""What each plan gets of the output stage: its templates and whether results are marked.

Read once from `FREE_TEMPLATES`, `PRO_TEMPLATES`, `FREE_WATERMARK` and `WATERMARK_*`; the
service asks it at execute and re-run, with the plan the user has at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3api.common.errors import ConfigurationError
from s3api.errors import ApiError, ErrorCode
from s3api.presets.catalog import PRESETS, Preset
from s3api.settings import Settings
from s3api.users.plans import Plan

EVERY_TEMPLATE = "*"
"""The template-list entry that allows every template."""


@dataclass(frozen=True)
class PlanOutputs:
    """Templates per plan (None: every one) and the free plan's watermark spec (or None)."""

    templates: dict[Plan, frozenset[str] | None]
    free_watermark: dict[str, Any] | None

    @classmethod
    def from_settings(cls, settings: Settings) -> PlanOutputs:
        """The policy the settings describe; an unknown template id is a configuration error."""
        known = {t.id for preset in PRESETS.values() for t in preset.output_templates}

        def allowed(names: list[str]) -> frozenset[str] | None:
            unknown = sorted(set(names) - known - {EVERY_TEMPLATE})
            if unknown:
                raise ConfigurationError(
                    f"FREE_TEMPLATES/PRO_TEMPLATES name unknown templates {unknown}: "
                    f"use ids of {sorted(known)} or {EVERY_TEMPLATE}"
                )
            return None if EVERY_TEMPLATE in names else frozenset(names)

        watermark = None
        if settings.free_watermark:
            watermark = {
                "text": settings.watermark_text,
                "box": list(settings.watermark_box),
                "opacity": settings.watermark_opacity,
            }
        return cls(
            templates={
                Plan.FREE: allowed(settings.free_templates),
                Plan.PRO: allowed(settings.pro_templates),
            },
            free_watermark=watermark,
        )

    def allowed_templates(self, plan: Plan, preset: Preset) -> list[str]:
        """The preset's templates the plan may ask for, in catalogue order."""
        allowed = self.templates[plan]
        return [t.id for t in preset.output_templates if allowed is None or t.id in allowed]

    def check_template(self, plan: Plan, preset: Preset, template_id: str | None) -> None:
        """`TEMPLATE_NOT_IN_PLAN` unless the plan may ask for this template (or none)."""
        if template_id is None:
            return
        allowed = self.allowed_templates(plan, preset)
        if template_id not in allowed:
            raise ApiError(
                ErrorCode.TEMPLATE_NOT_IN_PLAN,
                f"The {plan.value} plan does not include this output template",
                {"plan": plan.value, "output_template": template_id, "allowed": allowed},
            )

    def watermark_for(self, plan: Plan) -> dict[str, Any] | None:
        """The watermark spec a job of this plan carries in its queue message, or None."""
        return self.free_watermark if plan is Plan.FREE else None
