"""The vocabulary of the sans-IO client flow: what it yields, and what it is sent back.

The flow (``zeroauth.core.flow``) is a generator in the style of httpx's ``Auth.auth_flow``, but
transport-neutral: it never performs I/O. It yields a *step* and receives the step's result:

=====================  ======================================================================
step                   result sent back
=====================  ======================================================================
``SendOriginal``       ``(HTTPResponse, tuple[HTTPResponse, ...])``: the MCP request, sent with
                       the given ``Authorization`` (or none) and ``DPoP`` proof (or none: RFC
                       9449 §7.1), plus the ``also`` requests sent
                       concurrently (a speculative PRM fetch overlapping the first 401)
``Fetch``              ``tuple[HTTPResponse, ...]``: OAuth requests, in order; a batch may be
                       sent in parallel (AS-metadata candidates, C-14/C-15)
``RedirectURI``        ``str``: the concrete redirect URI (a loopback listener's real port)
``UserAuthorization``  ``str``: the callback query (``code``, ``state``, ``iss``) — the user
                       step (browser or headless) runs outside the flow
``ShowDeviceCode``     ``None``: the user step shows the user code and verification URI of a
                       device authorization (RFC 8628 §3.3); the flow then polls
``Sleep``              ``None``: wait this many seconds (RFC 8628 §3.5 polling interval)
``Load``               ``dict | None``: a stored record
``Save`` / ``Delete``  ``None``
``Lock`` / ``Unlock``  ``True`` (``False``: not taken, ``blocking=False``) / ``None``: a named lock,
                       in-process and across processes (A12). The driver releases every lock
                       still held when a flow ends, however it ends.
``WaitUnlocked``       ``None``: wait until nobody in this process holds the named lock, without
                       taking it (waiters then re-check state together instead of queueing)
``Invalidate``         ``None``: drop discovery-cache entries (A9)
=====================  ======================================================================

Transport failures are not exceptions: a ``HTTPResponse`` with ``status == 0`` and ``error`` set
(timeout, connection refused, body over 1 MiB, redirect refused by the URL policy; A7, A8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zeroauth.core.device import DeviceAuthorization
from zeroauth.core.resource import canonical_resource

__all__ = [
    "MAX_BODY",
    "Delete",
    "Fetch",
    "HTTPRequest",
    "HTTPResponse",
    "Invalidate",
    "Load",
    "Lock",
    "Purpose",
    "RecordKind",
    "RedirectURI",
    "Save",
    "SendOriginal",
    "ShowDeviceCode",
    "Sleep",
    "Step",
    "Unlock",
    "UserAuthorization",
    "WaitUnlocked",
    "binding_key",
    "client_key",
    "dpop_key",
    "tokens_key",
]

MAX_BODY = 1 << 20  # A8: a metadata or token response is never read past 1 MiB

Purpose = Literal[
    "prm",
    "as-metadata",
    "register",
    "token",
    "device_authorization",  # RFC 8628 §3.1
    "refresh",
    "client-credentials",
    "token-exchange",
    "jwt-bearer",
    "mcp",  # a token-less MCP request whose 401 starts discovery (ZeroAuth.token)
    "jwks_uri",  # resource server / gateway key fetch (zeroauth._wire, endpoint policy)
    "introspection_endpoint",  # RFC 7662 call of a resource server / gateway
    "revocation",  # RFC 7009: logout revokes the tokens it forgets
]


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One OAuth request (discovery, registration, token). Bodies are already encoded."""

    method: str
    url: str
    purpose: Purpose
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    cacheable: bool = False  # a GET the driver may answer from its discovery cache
    follow_redirects: bool = False  # GETs only; every hop re-checked by the URL policy

    @classmethod
    def get(
        cls,
        url: str,
        purpose: Purpose,
        *,
        headers: Mapping[str, str] | None = None,
        cacheable: bool = True,
    ) -> HTTPRequest:
        hdrs = {"accept": "application/json", **(headers or {})}
        return cls(
            "GET", url, purpose, tuple(hdrs.items()), cacheable=cacheable, follow_redirects=True
        )

    @classmethod
    def post_form(
        cls,
        url: str,
        purpose: Purpose,
        form: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> HTTPRequest:
        from urllib.parse import urlencode

        hdrs = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
            **(headers or {}),
        }
        return cls("POST", url, purpose, tuple(hdrs.items()), urlencode(dict(form)).encode())

    @classmethod
    def post_json(
        cls,
        url: str,
        purpose: Purpose,
        document: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> HTTPRequest:
        import json

        hdrs = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
        return cls("POST", url, purpose, tuple(hdrs.items()), json.dumps(dict(document)).encode())

    def __repr__(self) -> str:  # never the body or headers: they may hold secrets (A16)
        return f"HTTPRequest({self.method} {self.url} purpose={self.purpose})"


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A response as the flow sees it. ``headers`` keeps every field line (names lowercased)."""

    status: int
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    error: str | None = None  # transport failure (status 0): what went wrong, never a secret
    error_requirement: str | None = None  # e.g. "SEC-04" when a redirect hop was refused
    from_cache: bool = False

    @classmethod
    def failure(cls, url: str, error: str, requirement: str | None = None) -> HTTPResponse:
        return cls(0, url, error=error, error_requirement=requirement)

    @classmethod
    def build(
        cls, status: int, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> HTTPResponse:
        return cls(status, url, tuple((k.lower(), v) for k, v in headers), body)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_list(self, name: str) -> tuple[str, ...]:
        name = name.lower()
        return tuple(value for key, value in self.headers if key == name)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        """``HTTP 404`` or the transport error: for error messages."""
        return self.error if self.status == 0 and self.error else f"HTTP {self.status}"


@dataclass(frozen=True, slots=True)
class SendOriginal:
    """Send the caller's own request with ``Authorization: <authorization>`` (none if ``None``)
    and, for a DPoP-bound token, ``DPoP: <dpop>``: a fresh proof for this very request
    (RFC 9449 §7.1); no ``DPoP`` header if ``None``."""

    authorization: str | None = field(repr=False)
    also: tuple[HTTPRequest, ...] = ()
    dpop: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Fetch:
    requests: tuple[HTTPRequest, ...]


@dataclass(frozen=True, slots=True)
class RedirectURI:
    preferred: str


@dataclass(frozen=True, slots=True)
class UserAuthorization:
    url: str
    redirect_uri: str
    issuer: str


@dataclass(frozen=True, slots=True)
class ShowDeviceCode:
    """Tell the user where to go and which code to enter (RFC 8628 §3.3)."""

    authorization: DeviceAuthorization


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


RecordKind = Literal["client", "tokens", "binding", "dpop"]
"""The kinds of stored record; each has one key builder below (C-30, RFC 8707, RFC 9449)."""


def client_key(issuer: str) -> str:
    """A ``client`` registration is keyed by its AS ``issuer`` (C-30)."""
    return issuer


def tokens_key(issuer: str, resource: str) -> str:
    """``tokens`` are keyed by (issuer, resource): joined by a space, never part of a URL."""
    return f"{issuer} {resource}"


def dpop_key(issuer: str) -> str:
    """A client's ``dpop`` key pair is kept per AS ``issuer``, next to its tokens (RFC 9449 §5:
    refresh tokens of public clients are bound to it)."""
    return issuer


def binding_key(server_url: str) -> str:
    """A server ``binding`` is keyed by the canonical MCP server URL (C-35)."""
    return canonical_resource(server_url)


@dataclass(frozen=True, slots=True)
class Load:
    kind: RecordKind
    key: str
    fresh: bool = False  # bypass any in-memory copy: re-read the store (after taking a lock)


@dataclass(frozen=True, slots=True)
class Save:
    kind: RecordKind
    key: str
    record: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Delete:
    kind: RecordKind
    key: str


@dataclass(frozen=True, slots=True)
class Lock:
    """Take the named lock. ``blocking=False``: only if no flow of this process holds it; the
    result says whether it was taken (``True``/``False``).

    ``local``: this process's lock only, not the store's cross-process one (single flight
    inside the process where the work under it takes a cross-process lock of its own).
    ``reads``: records the flow reads fresh right after taking the lock; a store that can
    read them in the same round trip as the acquisition does, and the next ``Load(fresh=True)``
    of each is answered from that read (taken atomically with the lock: as fresh)."""

    name: str
    blocking: bool = True
    local: bool = False
    reads: tuple[tuple[RecordKind, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Unlock:
    name: str


@dataclass(frozen=True, slots=True)
class WaitUnlocked:
    name: str


@dataclass(frozen=True, slots=True)
class Invalidate:
    urls: tuple[str, ...]


Step = (
    SendOriginal
    | Fetch
    | RedirectURI
    | UserAuthorization
    | ShowDeviceCode
    | Sleep
    | Load
    | Save
    | Delete
    | Lock
    | Unlock
    | Invalidate
    | WaitUnlocked
)
