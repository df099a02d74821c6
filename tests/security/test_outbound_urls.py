"""The outbound URL check: which addresses count as public, and which URL forms pass."""

from __future__ import annotations

import pytest

from s3api.security.outbound_urls import UnsafeUrlError, check_outbound_url, is_public_address
from tests.support.outbound_network import PUBLIC_ADDRESS, RECEIVER_NAME, FlippingResolver

NOT_PUBLIC = [
    pytest.param("100.100.100.200", id="shared-address-space-metadata"),
    pytest.param("100.64.0.1", id="shared-address-space"),
    pytest.param("::ffff:100.64.0.1", id="mapped-shared-address-space"),
    pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("2002:7f00:1::", id="6to4-loopback"),
    pytest.param("2002:a00:1::1", id="6to4-private"),
    pytest.param("2002:a9fe:a9fe::", id="6to4-link-local"),
    pytest.param("64:ff9b::7f00:1", id="nat64-loopback"),
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64-metadata"),
    pytest.param("64:ff9b::6440:1", id="nat64-shared-address-space"),
    pytest.param("64:ff9b:1::a00:1", id="nat64-local-use"),
    pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", id="teredo"),
    pytest.param("2001:0:7f00:1:0:0:f5ff:fffe", id="teredo-loopback"),
    pytest.param("::7f00:1", id="ipv4-compatible"),
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("10.1.2.3", id="private"),
    pytest.param("169.254.169.254", id="link-local-metadata"),
    pytest.param("fd00:ec2::254", id="aws-ipv6-metadata"),
    pytest.param("fe80::1%eth0", id="scoped-link-local"),
    pytest.param("192.0.2.10", id="documentation"),
    pytest.param("198.18.0.1", id="benchmarking"),
    pytest.param("224.0.0.251", id="multicast-local"),
    pytest.param("233.252.0.1", id="multicast-global"),
    pytest.param("ff0e::1", id="ipv6-multicast"),
    pytest.param("240.0.0.1", id="reserved"),
    pytest.param("0.0.0.0", id="unspecified"),
    pytest.param("::", id="ipv6-unspecified"),
]
PUBLIC = ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_that_are_not_global_or_wrap_such_an_address_are_not_public(
    address: str,
) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_global_addresses_and_wrappers_of_them_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("address", NOT_PUBLIC)
async def test_a_name_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    resolver = FlippingResolver([[PUBLIC_ADDRESS, address]])
    with pytest.raises(UnsafeUrlError, match="private, loopback or link-local"):
        await check_outbound_url(
            f"https://{RECEIVER_NAME}/hook", is_production=True, resolve=resolver
        )
    assert resolver.lookups == [(RECEIVER_NAME, 443)]


async def test_a_name_resolving_to_public_addresses_yields_them_to_dial() -> None:
    resolver = FlippingResolver([[PUBLIC_ADDRESS, "2606:4700:4700::1111"]])
    target = await check_outbound_url(
        f"https://{RECEIVER_NAME}:8443/hook", is_production=True, resolve=resolver
    )
    assert (target.host, target.port) == (RECEIVER_NAME, 8443)
    assert target.addresses == (PUBLIC_ADDRESS, "2606:4700:4700::1111")


async def test_an_address_literal_is_judged_without_a_lookup() -> None:
    resolver = FlippingResolver([["127.0.0.1"]])
    target = await check_outbound_url(
        "https://[2606:4700:4700::1111]/hook", is_production=True, resolve=resolver
    )
    assert target.addresses == ("2606:4700:4700::1111",)
    with pytest.raises(UnsafeUrlError):
        await check_outbound_url("https://[2002:7f00:1::]/", is_production=True, resolve=resolver)
    assert resolver.lookups == []


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def failing(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        await check_outbound_url(f"https://{RECEIVER_NAME}/", is_production=True, resolve=failing)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://name\u0000.evil/hook", id="nul-in-host"),
        pytest.param("https://name\u0001.evil/hook", id="control-in-host"),
        pytest.param("https://exa\tmple.com/hook", id="tab-dropped-by-urlsplit"),
        pytest.param("https://example.com\r\n.evil/hook", id="newline"),
        pytest.param("https://example.com\u007f/hook", id="delete"),
        pytest.param("https://example.com\u0085/hook", id="c1-control"),
        pytest.param("https://example.com/ho\u0000ok", id="nul-in-path"),
    ],
)
@pytest.mark.parametrize("is_production", [True, False])
async def test_control_characters_are_refused_anywhere_in_the_url(
    url: str, is_production: bool
) -> None:
    resolver = FlippingResolver([[PUBLIC_ADDRESS]])
    with pytest.raises(UnsafeUrlError, match="control characters"):
        await check_outbound_url(url, is_production=is_production, resolve=resolver)
    assert resolver.lookups == []


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34:0/hook", f"https://{RECEIVER_NAME}:0/", "http://127.0.0.1:0/"]
)
async def test_port_zero_is_refused(url: str) -> None:
    resolver = FlippingResolver([[PUBLIC_ADDRESS]])
    with pytest.raises(UnsafeUrlError, match="invalid port"):
        await check_outbound_url(url, is_production=url.startswith("https"), resolve=resolver)
