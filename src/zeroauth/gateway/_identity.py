"""Signed caller identity for upstreams (G-16: identity propagates, the token does not).

When configured, every upstream request carries a header (default ``X-ZeroAuth-Identity``)
holding a short-lived JWT (RFC 7519) signed by the gateway: ``iss`` = the gateway's resource,
``aud`` = the upstream URL, ``sub``/``client_id``/``scope`` and the original token issuer as
``idp`` copied from the verified caller token, ``iat``/``exp`` (``ttl`` seconds). HS256 uses a
shared secret; ES256 a private key whose public half the upstream holds. The upstream checks it
with :class:`IdentityVerifier` (or any JWT library). Signatures are cached per (caller,
upstream) for half the lifetime, so the hot path pays a dict lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from zeroauth.core.errors import InvalidToken
from zeroauth.gateway._config import IdentityConfig
from zeroauth.server._verifier import AccessToken

__all__ = ["CallerIdentity", "IdentitySigner", "IdentityVerifier"]

_CACHE_SIZE = 10_000


class IdentitySigner:
    """Makes the identity header value for (verified caller, upstream)."""

    def __init__(
        self, config: IdentityConfig, *, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.header = config.header
        self._alg = config.algorithm
        self._key: Any = config.secret
        if config.algorithm == "ES256":
            assert config.private_key_pem is not None
            self._key = load_pem_private_key(config.private_key_pem, password=None)
        self._issuer = issuer
        self._ttl = config.ttl
        self._clock = clock
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, bytes]] = OrderedDict()
        self.head_name = config.header.encode("ascii")

    def head(self, token: AccessToken, audience: str) -> bytes:
        """The ``Name: value\\r\\n`` header line for this caller and upstream."""
        key = (token.issuer, token.subject, token.client_id, token.scopes, audience)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": audience,
            "iat": int(now),
            "exp": int(now) + self._ttl,
            "idp": token.issuer,
            "scope": " ".join(sorted(token.scopes)),
        }
        if token.subject is not None:
            claims["sub"] = token.subject
        if token.client_id is not None:
            claims["client_id"] = token.client_id
        value = jwt.encode(claims, self._key, algorithm=self._alg, headers={"typ": "JWT"})
        line = self.head_name + b": " + value.encode("ascii") + b"\r\n"
        self._cache[key] = (now + self._ttl / 2, line)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return line


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """What an upstream learns about the caller from the identity header."""

    subject: str | None
    client_id: str | None
    scopes: frozenset[str]
    idp: str | None
    claims: Mapping[str, Any]


class IdentityVerifier:
    """For upstreams: checks the gateway's identity header (signature, iss, aud, exp)."""

    def __init__(
        self,
        *,
        key: Any,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = ("HS256", "ES256"),
        leeway: float = 5.0,
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._leeway = leeway

    def verify(self, value: str) -> CallerIdentity:
        try:
            claims = jwt.decode(
                value,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"identity header refused: {type(exc).__name__}") from None
        scope = claims.get("scope")
        return CallerIdentity(
            subject=claims.get("sub"),
            client_id=claims.get("client_id"),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            idp=claims.get("idp"),
            claims=claims,
        )
