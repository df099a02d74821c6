"""Where and how messages are pushed: URL, payload shape and auth header, from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from s3api.common.errors import ConfigurationError
from s3api.settings import Settings


class DispatchMode(StrEnum):
    """The shape of a push request."""

    GENERIC = "generic"  # POST the delivered message itself to DISPATCH_URL
    SERVERLESS = "serverless"  # POST {"input": message} to DISPATCH_URL/run


def parse_header(raw: str) -> tuple[str, str]:
    """Split `"Name: value"` (e.g. `Authorization: Bearer xyz`) into its two parts."""
    name, separator, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not separator or not name or not value or any(c.isspace() for c in name):
        raise ConfigurationError("DISPATCH_AUTH_HEADER must look like 'Name: value'")
    return name, value


@dataclass(frozen=True)
class PushTarget:
    """An endpoint messages are POSTed to."""

    url: str
    mode: DispatchMode
    timeout_seconds: float
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> PushTarget | None:
        """The configured target, or None when DISPATCH_URL is unset."""
        if not settings.dispatch_url:
            return None
        try:
            mode = DispatchMode(settings.dispatch_mode.strip().lower())
        except ValueError:
            known = ", ".join(m.value for m in DispatchMode)
            raise ConfigurationError(f"DISPATCH_MODE must be one of {known}") from None
        base = settings.dispatch_url.rstrip("/")
        headers = {}
        if settings.dispatch_auth_header:
            name, value = parse_header(settings.dispatch_auth_header)
            headers[name] = value
        return cls(
            url=f"{base}/run" if mode is DispatchMode.SERVERLESS else base,
            mode=mode,
            timeout_seconds=settings.dispatch_timeout_seconds,
            headers=headers,
        )

    def payload(self, message: dict[str, Any]) -> dict[str, Any]:
        """The JSON body for one message."""
        return {"input": message} if self.mode is DispatchMode.SERVERLESS else message
