"""Per-role URL policies for the outbound wire (SECURITY SEC-04, SEC-05, W1, W2).

- client: :class:`~zeroauth.core.urls.URLPolicy` (no private ranges unless the development
  opt-in; every resolved address checked, SEC-04).
- endpoint: operator-configured endpoints of a resource server or gateway (JWKS, introspection,
  authorization server metadata). Private addresses are allowed (an IdP inside the cluster is
  normal); https is required unless the host is a true loopback literal or ``localhost`` (W2).
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from zeroauth.core.errors import URLPolicyError
from zeroauth.core.urls import is_loopback_host

__all__ = [
    "ENDPOINT",
    "EndpointPolicy",
    "URLChecker",
    "WirePolicy",
    "check_endpoint_url",
    "endpoint_policy",
]


class WirePolicy(Protocol):
    """What the wire asks of a policy: a URL check (every hop) and an address check."""

    @property
    def block_private(self) -> bool: ...

    def check_url(self, url: str, *, field: str, requirement: str = ...) -> str: ...

    def check_address(self, address: str, *, url: str) -> None: ...


def check_endpoint_url(url: str, *, field: str, requirement: str = "SEC-05") -> str:
    """Default for operator-configured endpoints: https, or http on a loopback host (dev).

    Private addresses are allowed: an IdP inside the cluster is normal for a resource server.
    Only true loopback literals and ``localhost`` relax https (SECURITY W2): a public name such
    as ``127.evil.example`` or ``127.0.0.1.attacker.example`` is not loopback, nor is ``127.1``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unbalanced "[" in the authority
        parts, host = urlsplit(""), ""
    if (parts.scheme == "https" and host) or (parts.scheme == "http" and is_loopback_host(host)):
        return url
    raise URLPolicyError(
        f"{field} must be an https URL (http only on a loopback host)",
        requirement=requirement,
        where=url,
        hint=f"configure an https {field}",
    )


class EndpointPolicy:
    """The endpoint role: ``check_endpoint_url`` at every hop, any resolved address allowed."""

    block_private = False

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        return check_endpoint_url(url, field=field, requirement=requirement)

    def check_address(self, address: str, *, url: str) -> None:
        return None  # private and loopback addresses are normal for configured endpoints


ENDPOINT = EndpointPolicy()


class URLChecker(Protocol):
    """Any object with ``check_url`` (a ``URLPolicy``, or an operator's own rule)."""

    def check_url(self, url: str, *, field: str, requirement: str = ...) -> str: ...


class _CheckedEndpoint(EndpointPolicy):
    def __init__(self, checker: URLChecker) -> None:
        self._checker = checker

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        return self._checker.check_url(url, field=field, requirement=requirement)


def endpoint_policy(checker: URLChecker | None = None) -> WirePolicy:
    """The wire policy for a configured endpoint: ``ENDPOINT``, a full ``WirePolicy`` as given
    (a ``URLPolicy`` then also checks every resolved address), or ``checker``'s URL rule."""
    if checker is None:
        return ENDPOINT
    if hasattr(checker, "check_address") and hasattr(checker, "block_private"):
        return checker  # type: ignore[return-value]
    return _CheckedEndpoint(checker)
