"""Wire shapes of `GET /me` and `DELETE /me`."""

from __future__ import annotations

from pydantic import BaseModel

from s3api.users.plans import Plan


class AccountState(BaseModel):
    """The caller's plan, balance and slots in use, with the plan's limits."""

    user_id: str
    plan: Plan
    credits: int
    rule_slots: int
    concurrent_jobs: int
    max_rule_slots: int
    max_concurrency: int
    max_items_per_job: int


class AccountDeleted(BaseModel):
    """`DELETE /me` answer."""

    deleted: bool


class WebhookSecretPublic(BaseModel):
    """The caller's webhook signing secret, `whsec_<base64>` (Standard Webhooks)."""

    secret: str
