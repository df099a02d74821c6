"""Wire shapes of `POST /auth/anon`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from s3api.security.device_hash import MIN_DEVICE_HASH_LENGTH
from s3api.users.plans import Plan


class AnonSignIn(BaseModel):
    """Optional body: a stable hash of the device so it keeps its account.

    Whoever presents it gets the account's token, so it must be long enough not to guess.
    """

    device_hash: str | None = Field(default=None, min_length=MIN_DEVICE_HASH_LENGTH, max_length=256)


class AnonSession(BaseModel):
    """A token for the (new or existing) anonymous user."""

    user_id: str
    token: str
    plan: Plan
    is_new: bool
