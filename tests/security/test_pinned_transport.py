"""The pinned transport: it dials only checked addresses and keeps the name for TLS and Host."""

from __future__ import annotations

import httpx
import pytest

from s3api.security.outbound_urls import UnsafeUrlError
from s3api.security.pinned_transport import outbound_client
from tests.support.outbound_network import (
    OTHER_PUBLIC_ADDRESS,
    PUBLIC_ADDRESS,
    RECEIVER_NAME,
    FakeNetwork,
    FlippingResolver,
    http_answer,
)
from tests.support.worker import scripted_endpoint


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_a_name_flipping_to_loopback_is_dialled_only_at_the_address_checked() -> None:
    network = FakeNetwork()
    resolver = FlippingResolver([[PUBLIC_ADDRESS], ["127.0.0.1"]])
    with scripted_endpoint([]) as (receiver, url):
        port = _port_of(url)
        async with outbound_client(
            is_production=True, resolve=resolver, network_backend=network
        ) as client:
            outcomes: list[int | str] = []
            for _ in range(6):
                try:
                    response = await client.post(
                        f"https://{RECEIVER_NAME}:{port}/hook", content=b"{}"
                    )
                    outcomes.append(response.status_code)
                except UnsafeUrlError:
                    outcomes.append("refused")
    assert outcomes == [200, "refused"] * 3
    assert len(resolver.lookups) == 6
    assert network.dialled == [(PUBLIC_ADDRESS, port)] * 3
    assert receiver.requests == []


async def test_the_fake_network_would_show_a_request_that_reached_a_local_receiver() -> None:
    """The control of the test above: development dials the name, and the receiver sees it."""
    network = FakeNetwork()
    with scripted_endpoint([]) as (receiver, url):
        async with outbound_client(is_production=False, network_backend=network) as client:
            response = await client.post(url.replace("http:", "https:") + "/hook", content=b"{}")
    assert response.status_code == 200
    assert network.dialled == [("127.0.0.1", _port_of(url))]
    assert len(receiver.requests) == 1


async def test_tls_and_the_host_header_keep_the_name_while_the_checked_address_is_dialled() -> None:
    network = FakeNetwork()
    resolver = FlippingResolver([[PUBLIC_ADDRESS]])
    async with outbound_client(
        is_production=True, resolve=resolver, network_backend=network
    ) as client:
        assert (await client.post(f"https://{RECEIVER_NAME}/hook", content=b"{}")).is_success
        assert (await client.post(f"https://{RECEIVER_NAME}:8443/x", content=b"{}")).is_success
    first, second = network.dials
    assert (first.host, first.port) == (PUBLIC_ADDRESS, 443)
    assert first.server_hostname == RECEIVER_NAME
    assert first.host_header == RECEIVER_NAME
    assert bytes(first.written).startswith(b"POST /hook HTTP/1.1\r\n")
    assert (second.host, second.port) == (PUBLIC_ADDRESS, 8443)
    assert second.server_hostname == RECEIVER_NAME
    assert second.host_header == f"{RECEIVER_NAME}:8443"
    assert resolver.lookups == [(RECEIVER_NAME, 443), (RECEIVER_NAME, 8443)]


@pytest.mark.parametrize(
    "reported_peer",
    [
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param(OTHER_PUBLIC_ADDRESS, id="another-public-address"),
        pytest.param("::ffff:100.64.0.1", id="shared-address-space"),
        pytest.param(None, id="unknown"),
    ],
)
async def test_a_connected_peer_other_than_the_checked_address_gets_nothing(
    reported_peer: str | None,
) -> None:
    network = FakeNetwork(reported_peers={PUBLIC_ADDRESS: reported_peer})
    resolver = FlippingResolver([[PUBLIC_ADDRESS]])
    async with outbound_client(
        is_production=True, resolve=resolver, network_backend=network
    ) as client:
        with pytest.raises(UnsafeUrlError, match="other than the checked one"):
            await client.post(f"https://{RECEIVER_NAME}/hook", content=b"secret")
    [dial] = network.dials
    assert dial.written == b""
    assert dial.server_hostname is None  # refused before TLS


async def test_a_redirect_is_not_followed_and_a_followed_one_is_checked_again() -> None:
    network = FakeNetwork(answers=[http_answer(302, {"Location": f"https://{RECEIVER_NAME}/in"})])
    resolver = FlippingResolver([[PUBLIC_ADDRESS], [PUBLIC_ADDRESS], ["127.0.0.1"]])
    async with outbound_client(
        is_production=True, resolve=resolver, network_backend=network
    ) as client:
        response = await client.post(f"https://{RECEIVER_NAME}/hook", content=b"{}")
        assert response.status_code == 302
        assert network.dialled == [(PUBLIC_ADDRESS, 443)]
        with pytest.raises(UnsafeUrlError):
            await client.get(f"https://{RECEIVER_NAME}/hook", follow_redirects=True)
    assert network.dialled == [(PUBLIC_ADDRESS, 443)] * 2
    assert len(resolver.lookups) == 3


async def test_the_checked_addresses_are_tried_in_order_until_one_connects() -> None:
    network = FakeNetwork(unreachable={PUBLIC_ADDRESS})
    resolver = FlippingResolver([[PUBLIC_ADDRESS, OTHER_PUBLIC_ADDRESS]])
    async with outbound_client(
        is_production=True, resolve=resolver, network_backend=network
    ) as client:
        assert (await client.post(f"https://{RECEIVER_NAME}/hook", content=b"{}")).is_success
        network.unreachable.add(OTHER_PUBLIC_ADDRESS)
        with pytest.raises(httpx.ConnectError):
            await client.post(f"https://{RECEIVER_NAME}/hook", content=b"{}")
    assert network.dialled == [(PUBLIC_ADDRESS, 443), (OTHER_PUBLIC_ADDRESS, 443)] * 2
    assert network.dials[1].host_header == RECEIVER_NAME
