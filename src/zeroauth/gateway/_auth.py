"""Token verification for the gateway: one verifier per trusted issuer.

S-19/S-20 (every token verified, audience = the gateway's resource, or the ``audience`` list of
its ``[[issuer]]``: Entra v2 writes the API app's client ID), RFC 9068 JWTs through
``zeroauth.server._jwt.JWTVerifier`` or opaque tokens through RFC 7662 introspection
(``zeroauth.server._introspection.IntrospectionVerifier``). Missing ``jwks_uri`` /
``introspection_endpoint`` are read from the issuer's RFC 8414 / OIDC metadata at start-up
(C-14..C-17: path-aware candidate order, exact ``issuer`` match). With several issuers a JWT
goes to the verifier of the ``iss`` it names (the claim is only a routing hint: that verifier
checks the signature and the issuer again); opaque tokens try each introspection verifier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

from zeroauth.client._auth import build_engine
from zeroauth.client._driver import run_async
from zeroauth.client._engine import Engine
from zeroauth.core.errors import InvalidToken, ServerMetadataError
from zeroauth.core.flow.service import issuer_metadata_flow
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.urls import OPERATOR
from zeroauth.gateway._config import GatewayConfig, IssuerConfig
from zeroauth.server._introspection import IntrospectionVerifier
from zeroauth.server._jwt import JWTVerifier, b64url_decode
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["MultiIssuerVerifier", "build_verifier", "discover_metadata"]

DISCOVERY_DEADLINE = 10.0  # seconds for one metadata fetch, whole body included


def discovery_engine() -> Engine:
    """The one driver's engine for issuer discovery: the operator-endpoint policy (W2), the
    wire's 1 MiB body cap and a 10 s total deadline per fetch (W3), no redirects."""
    return build_engine(url_policy=OPERATOR, timeout=DISCOVERY_DEADLINE)


async def discover_metadata(issuer: str, engine: Engine | None = None) -> ServerMetadata:
    """The issuer's metadata, by the client flow's own discovery (``issuer_metadata_flow``:
    C-14/C-15 order, identical ``issuer`` C-17; every URL under the operator-endpoint policy,
    and the ``jwks_uri`` / ``introspection_endpoint`` the document names too, SECURITY W2)."""
    engine = engine or discovery_engine()
    try:
        md: ServerMetadata = await run_async(issuer_metadata_flow(engine.config, issuer), engine)
    except ServerMetadataError as exc:
        if exc.requirement == "C-13":
            exc.hint = (
                "check the issuer URL, or set jwks_uri / introspection_endpoint in [[issuer]]"
            )
        raise
    return md


async def _endpoint(
    config: IssuerConfig, name: Literal["jwks_uri", "introspection_endpoint"], engine: Engine
) -> str:
    """``name`` as configured in ``[[issuer]]``, else as the issuer's metadata names it."""
    value = getattr(config, name)
    if value is None:
        value = getattr(await discover_metadata(config.issuer, engine), name)
        if not value:
            raise ServerMetadataError(
                f"the issuer publishes no {name}",
                where=config.issuer,
                hint=f"set {name} in [[issuer]]",
            )
    return str(value)


async def _one(config: IssuerConfig, resource: str, engine: Engine) -> TokenVerifier:
    if config.verify == "jwt":
        return JWTVerifier(
            issuer=config.issuer,
            resource=resource,
            jwks_uri=await _endpoint(config, "jwks_uri", engine),
            algorithms=config.algorithms,
            audiences=config.audience,
            audience_check=config.audience_check,
        )
    assert config.client_id is not None  # checked by the configuration
    return IntrospectionVerifier(
        introspection_endpoint=await _endpoint(config, "introspection_endpoint", engine),
        client_id=config.client_id,
        client_secret=config.client_secret,
        resource=resource,
        issuer=config.issuer,
        audiences=config.audience,
        audience_check=config.audience_check,
    )


async def build_verifier(
    config: GatewayConfig, own: Mapping[str, TokenVerifier] | None = None
) -> TokenVerifier:
    """The verifier for every ``[[issuer]]`` of ``config`` (discovery happens here), and the
    ``own`` ones by issuer (the gateway's bridge, whose keys are read in process)."""
    engine = discovery_engine()
    verifiers = dict(own or {})
    for issuer in config.issuers:
        verifiers[issuer.issuer] = await _one(issuer, config.resource, engine)
    if len(verifiers) == 1:
        return next(iter(verifiers.values()))
    return MultiIssuerVerifier(verifiers)


class MultiIssuerVerifier(TokenVerifier):
    """Dispatches to the verifier of the issuer a token claims (see the module docstring)."""

    def __init__(self, verifiers: dict[str, TokenVerifier]) -> None:
        self.verifiers = verifiers
        self._opaque: Sequence[TokenVerifier] = [
            v for v in verifiers.values() if isinstance(v, IntrospectionVerifier)
        ]

    async def verify(self, token: str) -> AccessToken:
        parts = token.split(".")
        if len(parts) == 3:
            try:
                claims = json.loads(b64url_decode(parts[1].encode("ascii")))
            except (ValueError, UnicodeError):
                raise InvalidToken("malformed JWT payload") from None
            issuer = claims.get("iss") if isinstance(claims, dict) else None
            verifier = self.verifiers.get(issuer) if isinstance(issuer, str) else None
            if verifier is None:
                raise InvalidToken("token from an issuer this gateway does not trust")
            return await verifier.verify(token)
        error: InvalidToken = InvalidToken("opaque token and no introspection configured")
        for verifier in self._opaque:
            try:
                return await verifier.verify(token)
            except InvalidToken as exc:
                error = exc
        raise error

    async def aclose(self) -> None:
        for verifier in self.verifiers.values():
            close = getattr(verifier, "aclose", None)
            if close is not None:
                await close()
