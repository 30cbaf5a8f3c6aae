"""Per-role URL policies for the outbound wire (SECURITY SEC-04, SEC-05, W1, W2).

Every role's policy is a :class:`~zeroauth.core.urls.URLPolicy`, checked at every hop and on
every resolved address:

- client: ``PRODUCTION`` (no private ranges) or the ``DEVELOPMENT`` opt-in (loopback allowed);
- endpoint: ``ENDPOINT`` (``zeroauth.core.urls.OPERATOR``) for operator-configured endpoints of a
  resource server, gateway or doctor (JWKS, introspection, authorization server metadata,
  token endpoints). Private addresses are allowed (an IdP inside the cluster is normal); https
  is required unless the host is a true loopback literal or ``localhost`` (W2).
"""

from __future__ import annotations

from typing import Protocol

from zeroauth.core.urls import OPERATOR

__all__ = [
    "ENDPOINT",
    "URLChecker",
    "WirePolicy",
    "check_endpoint_url",
    "endpoint_policy",
]

ENDPOINT = OPERATOR


class WirePolicy(Protocol):
    """What the wire asks of a policy: a URL check (every hop) and an address check."""

    @property
    def block_private(self) -> bool: ...

    def check_url(self, url: str, *, field: str, requirement: str = ...) -> str: ...

    def check_address(self, address: str, *, url: str) -> None: ...


def check_endpoint_url(url: str, *, field: str, requirement: str = "SEC-05") -> str:
    """``url`` when it may be an operator-configured endpoint: https, or http on a true loopback
    host (``127.evil.example`` and ``127.0.0.1.attacker.example`` are public names, and ``127.1``
    is not a canonical literal: SECURITY W2). Raises ``URLPolicyError`` otherwise."""
    return ENDPOINT.check_url(url, field=field, requirement=requirement)


class URLChecker(Protocol):
    """Any object with ``check_url`` (a ``URLPolicy``, or an operator's own rule)."""

    def check_url(self, url: str, *, field: str, requirement: str = ...) -> str: ...


class _CheckedEndpoint:
    """An operator's own URL rule, with the endpoint role's address check."""

    block_private = False

    def __init__(self, checker: URLChecker) -> None:
        self._checker = checker

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        return self._checker.check_url(url, field=field, requirement=requirement)

    def check_address(self, address: str, *, url: str) -> None:
        ENDPOINT.check_address(address, url=url)


def endpoint_policy(checker: URLChecker | None = None) -> WirePolicy:
    """The wire policy for a configured endpoint: ``ENDPOINT``, a full ``WirePolicy`` as given
    (a ``URLPolicy`` then also checks every resolved address), or ``checker``'s URL rule."""
    if checker is None:
        return ENDPOINT
    if hasattr(checker, "check_address") and hasattr(checker, "block_private"):
        return checker  # type: ignore[return-value]
    return _CheckedEndpoint(checker)
