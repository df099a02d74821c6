"""Wire shapes of the share endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from s3api.timeutil import Timestamp

MIN_SHARE_SECONDS = 60


class ShareCreate(BaseModel):
    """`POST /jobs/{id}/share` body, optional: ask for a link shorter than the default."""

    model_config = ConfigDict(extra="forbid")

    expires_in: int | None = Field(
        default=None,
        ge=MIN_SHARE_SECONDS,
        description="Seconds the link lives, at most `SHARE_LINK_SECONDS` (its default).",
    )


class ShareLink(BaseModel):
    """`POST /jobs/{id}/share` answer: the only time the link's token is shown."""

    url: str
    expires_at: Timestamp


class ShareRevoked(BaseModel):
    """`DELETE /jobs/{id}/share` answer; `revoked` is false when no link was active."""

    revoked: bool
