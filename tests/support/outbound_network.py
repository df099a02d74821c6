"""A stand-in for DNS and the internet under the pinned webhook transport (no test asks DNS
or dials an outside address).

`FlippingResolver` answers a name from a script, as a rebinding DNS server would.
`FakeNetwork` records every dial: a public address gets a scripted HTTP answer from an
in-memory stream; a loopback address is really dialled, and TLS on it is skipped, so a
request that reached a local receiver would be seen there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore

PUBLIC_ADDRESS = "93.184.216.34"
OTHER_PUBLIC_ADDRESS = "93.184.216.35"
RECEIVER_NAME = "hooks.example.test"


def http_answer(status: int, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with an empty body."""
    lines = [f"HTTP/1.1 {status} Scripted", "Content-Length: 0"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class FlippingResolver:
    """Answers each look-up with the next entry of `answers`, round and round."""

    answers: list[list[str]]
    lookups: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        """The next scripted answer for `host`."""
        self.lookups.append((host, port))
        return list(self.answers[(len(self.lookups) - 1) % len(self.answers)])


@dataclass
class Dial:
    """One connection the transport opened, and what it did on it."""

    host: str
    port: int
    server_hostname: str | None = None
    written: bytearray = field(default_factory=bytearray)

    @property
    def host_header(self) -> str | None:
        """The `Host` header of the request written on this connection."""
        for line in bytes(self.written).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"host":
                return value.strip().decode()
        return None


class _ScriptedStream(httpcore.AsyncNetworkStream):
    """An in-memory connection to a public address that answers once."""

    def __init__(self, dial: Dial, answer: bytes, peer: tuple[str, int] | None) -> None:
        self.dial = dial
        self.unread = answer
        self.peer = peer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        chunk, self.unread = self.unread[:max_bytes], self.unread[max_bytes:]
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.dial.written += buffer

    async def aclose(self) -> None:
        pass

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        self.dial.server_hostname = server_hostname
        return self

    def get_extra_info(self, info: str) -> Any:
        return self.peer if info == "server_addr" else None


class _PlainLoopbackStream(httpcore.AsyncNetworkStream):
    """A real local connection on which TLS is skipped, so a local receiver would answer."""

    def __init__(self, dial: Dial, inner: httpcore.AsyncNetworkStream) -> None:
        self.dial = dial
        self.inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.dial.written += buffer
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        self.dial.server_hostname = server_hostname
        return self

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info) if info == "server_addr" else None


@dataclass
class FakeNetwork(httpcore.AsyncNetworkBackend):
    """Records dials; public addresses answer `answers` in turn (then the last one)."""

    answers: list[bytes] = field(default_factory=lambda: [http_answer(200)])
    reported_peers: dict[str, str | None] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    dials: list[Dial] = field(default_factory=list)

    @property
    def dialled(self) -> list[tuple[str, int]]:
        """(address, port) of every connection opened, in order."""
        return [(dial.host, dial.port) for dial in self.dials]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        dial = Dial(host, port)
        self.dials.append(dial)
        if host in self.unreachable:
            raise httpcore.ConnectError(f"{host} is unreachable")
        if ipaddress.ip_address(host).is_loopback:
            inner = await httpcore.AnyIOBackend().connect_tcp(host, port, timeout)
            return _PlainLoopbackStream(dial, inner)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        peer = self.reported_peers.get(host, host)
        return _ScriptedStream(dial, answer, None if peer is None else (peer, port))
