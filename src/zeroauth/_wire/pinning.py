"""DNS pinning for outbound OAuth/metadata requests (SECURITY W1; SEC-04 "Consider DNS pinning").

A check-then-connect SSRF guard that resolves a name, checks the answer and then lets the HTTP
client resolve it again is open to DNS rebinding: the second answer may be ``127.0.0.1`` or
``169.254.169.254``. Here the name is resolved exactly once per connection, every address of
that answer is judged by an address check (one forbidden address refuses the whole answer), and
the socket is connected to a checked address only. The URL keeps its host name, so the
``Host`` header (RFC 9110 §7.2), TLS SNI and certificate verification (RFC 6125 §6) still use
the name, never the IP.

- ``PinningAsyncBackend`` / ``PinningBackend``: httpcore2 network backends doing the above.
- ``PinnedAsyncTransport`` / ``PinnedTransport``: httpx2 transports whose every connection goes
  through them (HTTP/1.1, no proxy: a proxy would resolve the name itself).
- ``policy_check(policy)``: the address check of a :class:`~zeroauth.core.urls.URLPolicy`.

A refused address raises :class:`~zeroauth.core.errors.URLPolicyError` out of the request; a
name that does not resolve raises ``httpx2.ConnectError``.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Protocol

import anyio
import httpcore2
import httpx2

from zeroauth._wire.policy import WirePolicy

__all__ = [
    "AddressCheck",
    "AsyncResolver",
    "PinnedAsyncTransport",
    "PinnedTransport",
    "PinningAsyncBackend",
    "PinningBackend",
    "Resolver",
    "policy_check",
    "system_resolver",
    "system_resolver_sync",
    "tls_context",
]

AsyncResolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``; called once per connection. OSError when it does not resolve."""

Resolver = Callable[[str, int], Sequence[str]]
"""The synchronous ``AsyncResolver``."""

_SocketOptions = Iterable[httpcore2.SOCKET_OPTION] | None


class AddressCheck(Protocol):
    """Raises ``URLPolicyError`` to refuse connecting to ``address``, an answer for ``host``."""

    def __call__(self, address: str, *, host: str) -> None: ...


def policy_check(policy: WirePolicy) -> AddressCheck:
    """The address check of ``policy`` (SEC-04: loopback only under the development policy)."""

    def check(address: str, *, host: str) -> None:
        policy.check_address(address, url=host)

    return check


def _addresses(infos: Iterable[tuple[object, ...]]) -> list[str]:
    seen: dict[str, None] = {}
    for info in infos:
        sockaddr = info[4]
        if isinstance(sockaddr, tuple) and sockaddr:
            seen[str(sockaddr[0])] = None
    return list(seen)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver (``getaddrinfo``), addresses in its order, duplicates dropped."""
    return _addresses(await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def system_resolver_sync(host: str, port: int) -> list[str]:
    return _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def _checked(host: str, addresses: Sequence[str], check: AddressCheck) -> list[str]:
    """Every address checked before any is used: one refused address refuses the answer."""
    if not addresses:
        raise httpcore2.ConnectError(f"{host} resolved to no address")
    for address in addresses:
        check(address, host=host)
    return list(addresses)


@contextlib.contextmanager
def _resolution_errors(host: str) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from exc
    except OSError as exc:
        raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from exc


class PinningAsyncBackend(httpcore2.AsyncNetworkBackend):
    """Resolves once, checks every address, connects to a checked address (SECURITY W1)."""

    def __init__(self, check: AddressCheck, *, resolver: AsyncResolver | None = None) -> None:
        self._check = check
        self._resolve = resolver or system_resolver
        self._inner = httpcore2.AnyIOBackend()

    async def pin(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The checked addresses for ``host`` (one resolution), or raise."""
        with _resolution_errors(host), anyio.fail_after(timeout):
            answer = await self._resolve(host, port)
        return _checked(host, answer, self._check)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore2.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.pin(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc  # next checked address of the same answer (RFC 8305 fallback)
        assert failure is not None  # _checked never returns an empty list
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("unix sockets are not used for OAuth requests")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinningBackend(httpcore2.NetworkBackend):
    """The synchronous ``PinningAsyncBackend`` (resolution is not bounded by ``timeout``)."""

    def __init__(self, check: AddressCheck, *, resolver: Resolver | None = None) -> None:
        self._check = check
        self._resolve = resolver or system_resolver_sync
        self._inner = httpcore2.SyncBackend()

    def pin(self, host: str, port: int) -> list[str]:
        with _resolution_errors(host):
            answer = self._resolve(host, port)
        return _checked(host, answer, self._check)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore2.NetworkStream:
        failure: Exception | None = None
        for address in self.pin(host, port):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore2.NetworkStream:
        raise httpcore2.ConnectError("unix sockets are not used for OAuth requests")


@functools.lru_cache(maxsize=4)
def _default_tls(verify: bool) -> ssl.SSLContext:
    return httpx2.create_ssl_context(verify=verify)


def tls_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    """One TLS context per setting, built once: loading the CA bundle costs ~0.1 s per client."""
    return verify if isinstance(verify, ssl.SSLContext) else _default_tls(bool(verify))


class PinnedAsyncTransport(httpx2.AsyncHTTPTransport):
    """An httpx2 transport whose connections go through ``PinningAsyncBackend``.

    httpx2's transport has no network-backend option, so its connection pool is built here;
    request conversion, error mapping and streaming are httpx2's own (inherited).
    """

    def __init__(
        self,
        check: AddressCheck,
        *,
        resolver: AsyncResolver | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:  # httpx2's __init__ is not called: it would build a pool without the backend
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=tls_context(verify),
            network_backend=PinningAsyncBackend(check, resolver=resolver),
        )


class PinnedTransport(httpx2.HTTPTransport):
    """The synchronous ``PinnedAsyncTransport``."""

    def __init__(
        self,
        check: AddressCheck,
        *,
        resolver: Resolver | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._pool = httpcore2.ConnectionPool(
            ssl_context=tls_context(verify),
            network_backend=PinningBackend(check, resolver=resolver),
        )
