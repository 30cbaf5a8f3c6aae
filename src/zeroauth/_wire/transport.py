"""OAuth requests on the wire: bounded, timed, policy-checked at every hop.

threat A7 (SSRF: every URL and every redirect hop checked by the URL policy; host names
resolved and their addresses checked when private ranges are blocked; SEC-03, SEC-04) and A8
(a response body is never read past 1 MiB, a request never takes longer than ``timeout`` in
total — a drip-fed body included — and redirects are bounded). Failures are returned, not
raised: a ``HTTPResponse`` with ``status == 0`` and the reason, so the flow can decide whether
to try the next candidate URL.

Each flow run gets its own short-lived ``httpx2`` client unless one is supplied: OAuth traffic
is rare (only on 401/403 and refresh), and nothing is left open between requests. Clients made
here connect through the DNS-pinning transport (SECURITY W1): the address the policy checked is
the address connected to, at every hop. A supplied client has no pinning; its addresses are
checked by a separate resolution before each hop (check-then-connect).

This is the one place OAuth and metadata requests go out, for every role: ``url_policy`` is a
client :class:`~zeroauth.core.urls.URLPolicy` or the endpoint policy
(:data:`zeroauth._wire.policy.ENDPOINT`) of a resource server, gateway or doctor.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import zlib
from collections import Counter
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2

from zeroauth._wire.bounded import BodyTooLargeError, read_capped
from zeroauth._wire.pinning import (
    PinnedAsyncTransport,
    PinnedTransport,
    policy_check,
    tls_context,
)
from zeroauth._wire.policy import WirePolicy
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.flow.steps import MAX_BODY, HTTPRequest, HTTPResponse
from zeroauth.core.urls import is_loopback_host

__all__ = [
    "OAuthTransport",
    "Observer",
    "check_resolved",
    "pinned_async_client",
    "pinned_client",
    "tls_context",
]

_IDENTITY = ("accept-encoding", "gzip, deflate")


Observer = Callable[[HTTPRequest, HTTPResponse, float], None]
"""Called after each OAuth exchange with the request, the (bounded) response and seconds taken."""


class _TooLargeError(Exception):
    pass


_FAILURES = (URLPolicyError, TimeoutError, _TooLargeError, httpx2.HTTPError)


def _must_resolve(policy: WirePolicy, host: str) -> bool:
    """Whether ``host`` is a DNS name whose addresses ``policy`` must judge (``*.localhost``
    too); ``localhost`` and IP literals were judged by ``check_url`` (SEC-04)."""
    if not policy.block_private or not host or is_loopback_host(host):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def _check_addresses(policy: WirePolicy, url: str, infos: list[tuple[object, ...]]) -> None:
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        policy.check_address(str(sockaddr[0]), url=url)


def check_resolved(
    policy: WirePolicy, url: str, *, field: str, requirement: str = "SEC-05"
) -> None:
    """``policy``'s URL check, then every address the host resolves to (check-then-connect: for
    a URL judged before it is used, or a client that does not pin). Raises ``URLPolicyError``."""
    policy.check_url(url, field=field, requirement=requirement)
    host = urlsplit(url).hostname or ""
    if _must_resolve(policy, host):
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return  # the request itself will fail with a clear transport error
        _check_addresses(policy, url, list(infos))


def pinned_async_client(
    policy: WirePolicy, verify: bool | ssl.SSLContext = True
) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection is pinned and checked by ``policy`` (W1).

    No redirects, no proxy or environment settings (a proxy would resolve the name itself).
    A refused address raises ``URLPolicyError`` out of the request.
    """
    pinned = PinnedAsyncTransport(policy_check(policy), verify=tls_context(verify))
    return httpx2.AsyncClient(follow_redirects=False, transport=pinned, trust_env=False)


def pinned_client(policy: WirePolicy, verify: bool | ssl.SSLContext = True) -> httpx2.Client:
    """The synchronous ``pinned_async_client``."""
    pinned = PinnedTransport(policy_check(policy), verify=tls_context(verify))
    return httpx2.Client(follow_redirects=False, transport=pinned, trust_env=False)


class OAuthTransport:
    """Sends ``HTTPRequest``\\ s for the flow (sync or async)."""

    def __init__(
        self,
        *,
        url_policy: WirePolicy,
        timeout: float = 30.0,
        max_bytes: int = MAX_BODY,
        max_redirects: int = 5,
        verify: bool | ssl.SSLContext = True,
        async_client: httpx2.AsyncClient | None = None,
        sync_client: httpx2.Client | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.url_policy = url_policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.verify = verify
        self._async_client = async_client
        self._sync_client = sync_client
        self.sent: Counter[str] = Counter()  # requests by purpose (benches, tests)
        self.observer = observer  # sees every exchange (tracing, `zeroauth demo`); no tokens logged

    # -- policy ------------------------------------------------------------------------------
    # Our own clients are pinned: the connection itself checks every address (W1). A supplied
    # client is not, so its addresses are checked by a separate resolution first.

    async def _check_async(self, url: str, purpose: str) -> None:
        self.url_policy.check_url(url, field=purpose)
        host = urlsplit(url).hostname or ""
        if self.supplies_clients and _must_resolve(self.url_policy, host):
            try:
                infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError:
                return  # the request itself will fail with a clear transport error
            _check_addresses(self.url_policy, url, list(infos))

    def _check_sync(self, url: str, purpose: str) -> None:
        if self.supplies_clients:
            check_resolved(self.url_policy, url, field=purpose)
        else:
            self.url_policy.check_url(url, field=purpose)

    # -- async -------------------------------------------------------------------------------

    @property
    def supplies_clients(self) -> bool:
        """True when the user gave the clients (they are then never closed here)."""
        return self._async_client is not None or self._sync_client is not None

    def async_client(self) -> httpx2.AsyncClient:
        """A client for one flow run (closed by the caller), unless one was supplied."""
        return self._async_client or self.new_async_client()

    def sync_client(self) -> httpx2.Client:
        return self._sync_client or self.new_sync_client()

    def new_async_client(self) -> httpx2.AsyncClient:
        """A fresh pinned client (SECURITY W1); the caller closes it."""
        return pinned_async_client(self.url_policy, self.verify)

    def new_sync_client(self) -> httpx2.Client:
        return pinned_client(self.url_policy, self.verify)

    async def fetch(
        self, request: HTTPRequest, client: httpx2.AsyncClient | None = None
    ) -> HTTPResponse:
        began = time.perf_counter()
        client = client or self._async_client
        if client is not None:
            response = await self._fetch_async(client, request)
        else:
            async with self.new_async_client() as own:
                response = await self._fetch_async(own, request)
        return self._observed(request, response, began)

    async def _fetch_async(self, client: httpx2.AsyncClient, request: HTTPRequest) -> HTTPResponse:
        url = request.url
        deadline = time.monotonic() + self.timeout
        for _ in range(self.max_redirects + 1):
            try:
                await self._check_async(url, request.purpose)
                self.sent[request.purpose] += 1
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    async with client.stream(
                        request.method, url, headers=[*request.headers, _IDENTITY],
                        content=request.body or None, timeout=self.timeout,
                    ) as response:  # fmt: skip
                        if self._is_hop(request, response):
                            url = urljoin(url, response.headers["location"])
                            continue
                        body = await self._read_async(response)
            except _FAILURES as exc:
                return self._failed(url, exc)
            return HTTPResponse.build(response.status_code, request.url,
                                      response.headers.multi_items(), body)  # fmt: skip
        return HTTPResponse.failure(url, f"more than {self.max_redirects} redirects", "A8")

    async def _read_async(self, response: httpx2.Response) -> bytes:
        try:
            raw = await read_capped(response, self.max_bytes)
        except BodyTooLargeError:
            raise _TooLargeError from None
        return self._decode(response, raw)

    # -- sync --------------------------------------------------------------------------------

    def fetch_sync(self, request: HTTPRequest, client: httpx2.Client | None = None) -> HTTPResponse:
        began = time.perf_counter()
        client = client or self._sync_client
        if client is not None:
            response = self._fetch_sync(client, request)
        else:
            with self.new_sync_client() as own:
                response = self._fetch_sync(own, request)
        return self._observed(request, response, began)

    def _observed(self, request: HTTPRequest, response: HTTPResponse, began: float) -> HTTPResponse:
        if self.observer is not None:
            self.observer(request, response, time.perf_counter() - began)
        return response

    def _fetch_sync(self, client: httpx2.Client, request: HTTPRequest) -> HTTPResponse:
        url = request.url
        deadline = time.monotonic() + self.timeout
        for _ in range(self.max_redirects + 1):
            try:
                self._check_sync(url, request.purpose)
                self.sent[request.purpose] += 1
                with client.stream(
                    request.method, url, headers=[*request.headers, _IDENTITY],
                    content=request.body or None, timeout=self.timeout,
                ) as response:  # fmt: skip
                    if self._is_hop(request, response):
                        url = urljoin(url, response.headers["location"])
                        continue
                    body = self._read_sync(response, deadline)
            except _FAILURES as exc:
                return self._failed(url, exc)
            return HTTPResponse.build(response.status_code, request.url,
                                      response.headers.multi_items(), body)  # fmt: skip
        return HTTPResponse.failure(url, f"more than {self.max_redirects} redirects", "A8")

    def _read_sync(self, response: httpx2.Response, deadline: float) -> bytes:
        """``_read_async`` without an event loop: the deadline is checked at every chunk."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLargeError
            if time.monotonic() > deadline:
                raise TimeoutError
            chunks.append(chunk)
        return self._decode(response, b"".join(chunks))

    # -- shared ------------------------------------------------------------------------------

    @staticmethod
    def _is_hop(request: HTTPRequest, response: httpx2.Response) -> bool:
        return (
            request.follow_redirects and request.method == "GET" and response.has_redirect_location
        )

    def _decode(self, response: httpx2.Response, raw: bytes) -> bytes:
        """Undo a ``Content-Encoding`` (bounded: a compression bomb is refused too)."""
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return raw
        if encoding in ("gzip", "x-gzip", "deflate"):
            wbits = 31 if "gzip" in encoding else 15
            decompressor = zlib.decompressobj(wbits)
            out = decompressor.decompress(raw, self.max_bytes + 1)
            if len(out) > self.max_bytes or decompressor.unconsumed_tail:
                raise _TooLargeError
            return out
        return raw  # unknown coding: the JSON parser will refuse it

    def _failed(self, url: str, exc: Exception) -> HTTPResponse:
        """A hop that failed, as a response (A7, A8): returned, never raised."""
        if isinstance(exc, URLPolicyError):  # by check_url, or a pinned connection's address
            return HTTPResponse.failure(url, f"refused by the URL policy: {exc}", exc.requirement)
        if isinstance(exc, TimeoutError):
            return HTTPResponse.failure(url, f"timed out after {self.timeout:g} s", "A8")
        if isinstance(exc, _TooLargeError):
            text = f"response body larger than {self.max_bytes} bytes"
            return HTTPResponse.failure(url, text, "A8")
        return HTTPResponse.failure(url, f"{type(exc).__name__}: {exc}")
