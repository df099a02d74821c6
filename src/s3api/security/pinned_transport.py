"""An httpx transport that connects only to the addresses the outbound URL check approved.

Checking a name and then letting the HTTP client resolve it again lets a name that flips
between a public and a loopback address (DNS rebinding) pass the check and still reach a
local service. Here each request, redirects included, is checked on its own and sent to
one of the checked addresses, while TLS (SNI, certificate) and the `Host` header keep the
name; the connected peer is checked once more before a byte is written. Connections are
not kept alive, so every attempt dials the address checked for it, and a connection opened
for one name never carries a request for another that shares its address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import httpcore
import httpx

from s3api.security.outbound_urls import (
    Resolver,
    UnsafeUrlError,
    check_outbound_url,
    is_public_address,
    resolve_host,
)

# httpcore's errors as the httpx ones that callers catch, looked up along the error's MRO.
_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for kind in type(exc).__mro__:
            if kind in _HTTPX_ERRORS:
                raise _HTTPX_ERRORS[kind](str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    """A response body whose read errors surface as httpx errors."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_errors():
                await close()


class PeerCheckingBackend(httpcore.AsyncNetworkBackend):
    """Dials the pinned address, then refuses a peer that is not it or not public."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, *, require_public: bool) -> None:
        self.inner = inner
        self.require_public = require_public

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A stream to `host` (an address the check approved, in production)."""
        stream = await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        if self.require_public and not _is_pinned_peer(stream.get_extra_info("server_addr"), host):
            await stream.aclose()
            raise UnsafeUrlError("connected to an address other than the checked one")
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never used: outbound URLs name hosts."""
        raise UnsafeUrlError("must name a host")

    async def sleep(self, seconds: float) -> None:
        """The inner backend's sleep (httpcore's retry pauses)."""
        await self.inner.sleep(seconds)


def _is_pinned_peer(peer: object, pinned: str) -> bool:
    """Whether the socket's remote address is the pinned, public one."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False
    try:
        same = ipaddress.ip_address(peer[0].split("%", 1)[0]) == ipaddress.ip_address(pinned)
    except ValueError:
        return False
    return same and is_public_address(peer[0])


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL and, in production, sends it to a checked address only."""

    def __init__(
        self,
        *,
        is_production: bool,
        resolve: Resolver = resolve_host,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.is_production = is_production
        self.resolve = resolve
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_keepalive_connections=0,
            network_backend=PeerCheckingBackend(
                network_backend or httpcore.AnyIOBackend(), require_public=is_production
            ),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the URL, then send to each checked address in turn until one connects."""
        target = await check_outbound_url(
            str(request.url), is_production=self.is_production, resolve=self.resolve
        )
        if not target.addresses:  # development: the name is dialled as it is
            return await self._send(request, request.url.raw_host.decode("ascii"))
        refused: httpx.ConnectError | None = None
        for address in target.addresses:
            try:
                return await self._send(request, address)
            except httpx.ConnectError as exc:
                refused = exc
        assert refused is not None
        raise refused

    async def _send(self, request: httpx.Request, address: str) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        pinned = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=address.encode("ascii"),
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,  # `Host` still names the host
            content=request.stream,
            extensions={**request.extensions, "sni_hostname": request.url.raw_host.decode()},
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(pinned)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the pool's connections."""
        await self._pool.aclose()


def outbound_client(
    *,
    is_production: bool,
    resolve: Resolver = resolve_host,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for user-given URLs: pinned, no redirects, no proxies from the env."""
    transport = PinnedTransport(
        is_production=is_production, resolve=resolve, network_backend=network_backend
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
