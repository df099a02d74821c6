"""Which URLs the service may call on a user's behalf (webhooks).

In production only `https` is allowed, and a host must not resolve to a loopback, private,
link-local (cloud metadata), multicast, reserved or unspecified address; the check runs when
the URL is given and again before every delivery, since DNS may answer differently later.
In development `http` and local receivers are allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from s3api.errors import ApiError, ErrorCode

MAX_URL_LENGTH = 2048
# Addresses of cloud metadata services that are not in a link-local range.
_METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}


class UnsafeUrlError(ValueError):
    """The URL may not be called; the message says why."""


def check_url_form(url: str, *, allow_http: bool) -> str:
    """The host of a well-formed `https` (or, when allowed, `http`) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"must be at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeUrlError("must be an " + " or ".join(schemes) + " URL")
    if not parts.hostname or parts.username or parts.password:
        raise UnsafeUrlError("must name a host and carry no credentials")
    try:
        parts.port  # noqa: B018 (validates the port)
    except ValueError as exc:
        raise UnsafeUrlError("has an invalid port") from exc
    return parts.hostname


def is_public_address(address: str) -> bool:
    """Whether an IP address is routable on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _METADATA_ADDRESSES
    )


async def check_outbound_url(url: str, *, is_production: bool) -> None:
    """Raise `UnsafeUrlError` unless `url` may be called now."""
    host = check_url_form(url, allow_http=not is_production)
    if not is_production:
        return
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrlError("does not resolve") from exc
    if not answers or not all(is_public_address(str(answer[4][0])) for answer in answers):
        raise UnsafeUrlError("resolves to a private, loopback or link-local address")


async def checked_webhook_url(url: str, *, is_production: bool) -> str:
    """`check_outbound_url` as a 400 on the `webhook_url` field."""
    try:
        await check_outbound_url(url, is_production=is_production)
    except UnsafeUrlError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, f"webhook_url {exc}", {"field": "webhook_url"}
        ) from exc
    return url
