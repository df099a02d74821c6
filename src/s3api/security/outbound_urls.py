"""Which URLs the service may call on a user's behalf (webhooks).

In production only `https` is allowed, and every address a host resolves to must be global
(`ipaddress`'s `is_global`) and not multicast, reserved or a cloud metadata address; an IPv6
address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that one too,
since it can lead there. The check runs when the URL is given and again before every
delivery, since DNS may answer differently later; `pinned_transport` then connects only to
the addresses this check returned. In development `http` and local receivers are allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from s3api.errors import ApiError, ErrorCode

MAX_URL_LENGTH = 2048
# Addresses of cloud metadata services that `is_global` does not already exclude.
_METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}
# NAT64 prefixes whose embedded IPv4 address sits in the last 32 bits (RFC 6052), and the
# local-use prefix, whose layout is the operator's choice, so it is refused whole.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
# C0 controls, DEL and C1 controls: `urlsplit` silently drops some (tab, newline) and keeps
# others (NUL) inside the host, so either way the URL checked is not the URL given.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")

# A name and port to the addresses it resolves to; injected by tests, which must not ask DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrlError(ValueError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class OutboundTarget:
    """A checked URL's host and port, and (in production) the addresses that may be dialled."""

    host: str
    port: int
    addresses: tuple[str, ...]


def check_url_form(url: str, *, allow_http: bool) -> str:
    """The host of a well-formed `https` (or, when allowed, `http`) URL."""
    return _url_form(url, allow_http=allow_http).host


def _url_form(url: str, *, allow_http: bool) -> OutboundTarget:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL_CHARACTERS.search(url):
        raise UnsafeUrlError("must not contain control characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeUrlError("must be an " + " or ".join(schemes) + " URL")
    if not parts.hostname or parts.username or parts.password:
        raise UnsafeUrlError("must name a host and carry no credentials")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError("has an invalid port") from exc
    if port == 0:
        raise UnsafeUrlError("has an invalid port")
    default_port = 443 if parts.scheme == "https" else 80
    return OutboundTarget(parts.hostname, port or default_port, ())


def _translated_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 address stands for: the one reached."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _tunnelled_ipv4(ip: IPAddress) -> Iterator[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or Teredo address carries (relay, server, client)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return
    if ip.sixtofour is not None:
        yield ip.sixtofour
    if ip.teredo is not None:
        yield from ip.teredo


def _is_public(ip: IPAddress) -> bool:
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and ip not in _METADATA_ADDRESSES
        and not (isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL_USE)
    )


def is_public_address(address: str) -> bool:
    """Whether an IP address, and any IPv4 address it wraps, is routable on the internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    translated = _translated_ipv4(ip)
    if translated is not None:
        return _is_public(translated)
    return _is_public(ip) and all(_is_public(inner) for inner in _tunnelled_ipv4(ip))


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order, each once."""
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


async def check_outbound_url(
    url: str, *, is_production: bool, resolve: Resolver = resolve_host
) -> OutboundTarget:
    """The URL's target if it may be called now (in production, with its checked addresses);
    raises `UnsafeUrlError` otherwise."""
    target = _url_form(url, allow_http=not is_production)
    if not is_production:
        return target
    try:
        addresses = [str(ipaddress.ip_address(target.host))]
    except ValueError:
        try:
            addresses = await resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrlError("does not resolve") from exc
    if not addresses or not all(is_public_address(address) for address in addresses):
        raise UnsafeUrlError("resolves to a private, loopback or link-local address")
    return OutboundTarget(target.host, target.port, tuple(addresses))


async def checked_webhook_url(url: str, *, is_production: bool) -> str:
    """`check_outbound_url` as a 400 on the `webhook_url` field."""
    try:
        await check_outbound_url(url, is_production=is_production)
    except UnsafeUrlError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, f"webhook_url {exc}", {"field": "webhook_url"}
        ) from exc
    return url
