"""The token-verification contract of the resource server (OAuth 2.1 §5.2, RFC 8707 §2, RFC 9068).

A ``TokenVerifier`` turns the bearer string of an ``Authorization`` header into verified
``AccessToken`` claims, or raises ``InvalidToken``. ``JWTVerifier`` (``zeroauth.server._jwt``)
and ``IntrospectionVerifier`` (``zeroauth.server._introspection``) implement it; users may
implement it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from zeroauth.core.token_exchange import delegation_chain

__all__ = ["AccessToken", "TokenVerifier"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """Verified claims of an access token. Never holds the token string itself."""

    issuer: str
    subject: str | None
    client_id: str | None
    audience: tuple[str, ...]
    scopes: frozenset[str]
    expires_at: float | None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def actors(self) -> tuple[str, ...]:
        """Who acts for ``subject`` in an exchanged token (RFC 8693 §4.1 ``act``): the current
        actor first, then the earlier hops; ``()`` for a token that was not exchanged. Raises
        ``InvalidInput`` for a malformed ``act`` claim."""
        return delegation_chain(self.claims)


@runtime_checkable
class TokenVerifier(Protocol):
    """Verifies a bearer token for one protected resource.

    Must raise ``zeroauth.core.errors.InvalidToken`` (with a description that never contains the
    token) for anything it does not accept: bad signature, wrong ``iss``, ``aud`` without our
    resource (S-20), expired, not yet valid, inactive.
    """

    async def verify(self, token: str) -> AccessToken: ...
