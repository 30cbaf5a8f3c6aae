"""Token verification for the gateway: one verifier per trusted issuer.

S-19/S-20 (every token verified, audience = the gateway's resource), RFC 9068 JWTs through
``zeroauth.server._jwt.JWTVerifier`` or opaque tokens through RFC 7662 introspection
(``zeroauth.server._introspection.IntrospectionVerifier``). Missing ``jwks_uri`` /
``introspection_endpoint`` are read from the issuer's RFC 8414 / OIDC metadata at start-up
(C-14..C-17: path-aware candidate order, exact ``issuer`` match). With several issuers a JWT
goes to the verifier of the ``iss`` it names (the claim is only a routing hint: that verifier
checks the signature and the issuer again); opaque tokens try each introspection verifier.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from zeroauth._wire.policy import ENDPOINT, check_endpoint_url
from zeroauth._wire.transport import OAuthTransport
from zeroauth.core.errors import InvalidToken, ServerMetadataError
from zeroauth.core.flow.steps import HTTPRequest
from zeroauth.core.server_metadata import ServerMetadata, metadata_candidates
from zeroauth.gateway._config import GatewayConfig, IssuerConfig
from zeroauth.server._introspection import IntrospectionVerifier
from zeroauth.server._jwt import JWTVerifier, b64url_decode
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["MultiIssuerVerifier", "build_verifier", "discover_metadata"]

MAX_METADATA_BYTES = 1 << 20  # RFC 8414 documents are a few KiB; SECURITY A8/W3
DISCOVERY_DEADLINE = 10.0  # seconds for one metadata fetch, whole body included


def metadata_transport() -> OAuthTransport:
    """The wire for discovery: endpoint policy, 1 MiB, 10 s in total, no redirects (W3)."""
    return OAuthTransport(
        url_policy=ENDPOINT, timeout=DISCOVERY_DEADLINE, max_bytes=MAX_METADATA_BYTES
    )


async def discover_metadata(issuer: str, http: OAuthTransport | None = None) -> ServerMetadata:
    """The issuer's metadata from the first well-known URL that answers 200.

    Every URL is under the operator-endpoint policy (https, http only on a true loopback host;
    SECURITY W2, W3): the issuer, each candidate and the ``jwks_uri`` / ``introspection_endpoint``
    the document names (the verifiers check those). Bodies are capped at 1 MiB; no redirects.
    """
    check_endpoint_url(issuer, field="issuer", requirement="SEC-05")
    tried = []
    for url in metadata_candidates(issuer):
        check_endpoint_url(url, field="issuer metadata URL", requirement="SEC-05")
        # total deadline, drip-fed bodies included; pinned connection (SECURITY W1, W3)
        response = await (http or metadata_transport()).fetch(
            HTTPRequest.get(url, "as-metadata", cacheable=False)
        )
        status = response.status
        if status == 0:
            tried.append(f"{url}: {response.error}"[:200])
            continue
        if status == 200:
            try:
                document = json.loads(response.body)
            except ValueError:
                tried.append(f"{url}: not JSON")
                continue
            return ServerMetadata.from_json(document, issuer=issuer, where=url)
        tried.append(f"{url}: HTTP {status}")
    raise ServerMetadataError(
        "no authorization server metadata found",
        requirement="C-14",
        where=issuer,
        found="; ".join(tried),
        hint="check the issuer URL, or set jwks_uri / introspection_endpoint in [[issuer]]",
    )


async def _one(config: IssuerConfig, resource: str, http: OAuthTransport) -> TokenVerifier:
    if config.verify == "jwt":
        jwks_uri = config.jwks_uri
        if jwks_uri is None:
            jwks_uri = (await discover_metadata(config.issuer, http)).jwks_uri
            if not jwks_uri:
                raise ServerMetadataError(
                    "the issuer publishes no jwks_uri",
                    where=config.issuer,
                    hint="set jwks_uri in [[issuer]]",
                )
        return JWTVerifier(
            issuer=config.issuer,
            resource=resource,
            jwks_uri=jwks_uri,
            algorithms=config.algorithms,
            audience_check=config.audience_check,
        )
    endpoint = config.introspection_endpoint
    if endpoint is None:
        endpoint = (await discover_metadata(config.issuer, http)).introspection_endpoint
        if not endpoint:
            raise ServerMetadataError(
                "the issuer publishes no introspection_endpoint",
                where=config.issuer,
                hint="set introspection_endpoint in [[issuer]]",
            )
    assert config.client_id is not None  # checked by the configuration
    return IntrospectionVerifier(
        introspection_endpoint=endpoint,
        client_id=config.client_id,
        client_secret=config.client_secret,
        resource=resource,
        issuer=config.issuer,
        audience_check=config.audience_check,
    )


async def build_verifier(config: GatewayConfig) -> TokenVerifier:
    """The verifier for every ``[[issuer]]`` of ``config`` (discovery happens here)."""
    http = metadata_transport()
    verifiers = [await _one(issuer, config.resource, http) for issuer in config.issuers]
    if len(verifiers) == 1:
        return verifiers[0]
    return MultiIssuerVerifier(
        {i.issuer: v for i, v in zip(config.issuers, verifiers, strict=True)}
    )


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
