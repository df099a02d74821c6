"""Plans and what each allows: the policy the limiter enforces, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from s3api.settings import Settings


class Plan(StrEnum):
    """A user's plan; unknown values in old rows read as the free plan."""

    FREE = "free"
    PRO = "pro"

    @classmethod
    def parse(cls, value: str) -> Plan:
        """The plan a stored value names, falling back to free."""
        try:
            return cls(value)
        except ValueError:
            return cls.FREE


DEFAULT_PLAN = Plan.FREE


@dataclass(frozen=True)
class PlanLimits:
    """What one plan allows."""

    credits_at_signup: int
    max_concurrency: int
    max_rule_slots: int
    max_items_per_job: int


class PlanPolicy:
    """The limits of each plan, as configured by `FREE_*` and `PRO_*`."""

    def __init__(self, limits: dict[Plan, PlanLimits]) -> None:
        self._limits = limits

    @classmethod
    def from_settings(cls, settings: Settings) -> PlanPolicy:
        """Read the configured limits once."""
        return cls(
            {
                Plan.FREE: PlanLimits(
                    credits_at_signup=settings.free_credits,
                    max_concurrency=settings.free_max_concurrency,
                    max_rule_slots=settings.free_max_rule_slots,
                    max_items_per_job=settings.free_max_items_per_job,
                ),
                Plan.PRO: PlanLimits(
                    credits_at_signup=settings.pro_credits,
                    max_concurrency=settings.pro_max_concurrency,
                    max_rule_slots=settings.pro_max_rule_slots,
                    max_items_per_job=settings.pro_max_items_per_job,
                ),
            }
        )

    def limits(self, plan: Plan) -> PlanLimits:
        """What `plan` allows."""
        return self._limits[plan]
