"""SECURITY W2: operator-configured endpoints on look-alike loopback names are not loopback.

The attack: a JWKS or introspection URL such as ``http://127.evil.example/jwks`` is a public DNS
name; over plain http a network attacker substitutes the key set (an attacker-signed token is
then accepted) or reads the introspection client secret. Only true loopback literals and
``localhost`` relax https (RFC 8252 §8.3 for what counts as loopback; RFC 9700 §2.6 / RFC 8414 §2
for https on every other endpoint). Covered for every place that sends to such an endpoint:
``JWTVerifier``/``JWKSCache``, ``IntrospectionVerifier``, the gateway's issuer discovery (the
``jwks_uri`` a discovered document names) and its upstream client-credentials token endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.core.errors import URLPolicyError
from zeroauth.gateway._auth import build_verifier
from zeroauth.gateway._config import CredentialsConfig, GatewayConfig, IssuerConfig
from zeroauth.gateway._credentials import make_credentials
from zeroauth.server._introspection import IntrospectionVerifier
from zeroauth.server._jwks import JWKSCache, check_endpoint_url
from zeroauth.server._jwt import JWTVerifier

LOOK_ALIKES = [
    "http://127.evil.example/jwks",
    "http://127.0.0.1.attacker.example/jwks",
    "http://127.1/jwks",  # not a canonical loopback literal (RFC 8252 §8.3)
    "http://localhost.evil.example/jwks",
    "http://127.0.0.1@evil.example/jwks",
    "http://[::1/jwks",  # malformed authority: refused, not a ValueError
]
TRUE_LOOPBACK = ["http://127.0.0.1:8/jwks", "http://[::1]:8/jwks", "http://localhost:8/jwks"]


# Why each is refused: a public name over http needs https; a short IPv4 form is ambiguous
# (resolvers disagree on it) over any scheme; userinfo never belongs in an OAuth URL; a
# malformed authority is no URL at all.
REASON = {
    "http://127.1/jwks": "ambiguous or invalid host",
    "http://127.0.0.1@evil.example/jwks": "userinfo",
    "http://[::1/jwks": "invalid|https",
}


@pytest.mark.parametrize("url", LOOK_ALIKES)
def test_w2_look_alike_loopback_names_refused_for_jwks(url: str) -> None:
    with pytest.raises(URLPolicyError, match=REASON.get(url, "https")):
        JWKSCache(url)
    with pytest.raises(URLPolicyError):
        JWTVerifier(issuer="https://as.example", resource="https://rs.example/mcp", jwks_uri=url)


@pytest.mark.parametrize("url", LOOK_ALIKES)
def test_w2_look_alike_loopback_names_refused_for_introspection(url: str) -> None:
    with pytest.raises(URLPolicyError):
        IntrospectionVerifier(
            introspection_endpoint=url.replace("/jwks", "/introspect"),
            client_id="rs",
            client_secret="s3cret",
            resource="https://rs.example/mcp",
        )


@pytest.mark.parametrize("url", TRUE_LOOPBACK)
def test_w2_true_loopback_literals_still_allowed_over_http(url: str) -> None:
    assert check_endpoint_url(url, field="jwks_uri") == url


class _Issuer:
    """A loopback issuer whose metadata names a hostile jwks_uri / token_endpoint."""

    def __init__(self) -> None:
        self.base = ""
        self.jwks_uri = "http://127.evil.example/jwks"
        self.token_endpoint = "http://127.evil.example/token"
        self.huge = False

    def app(self, base: str) -> Starlette:
        self.base = base

        async def metadata(request: Request) -> Response:
            if self.huge:
                return Response(b" " * ((1 << 20) + 10), media_type="application/json")
            return JSONResponse(
                {
                    "issuer": self.base,
                    "authorization_endpoint": f"{self.base}/authorize",
                    "token_endpoint": self.token_endpoint,
                    "jwks_uri": self.jwks_uri,
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        return Starlette(routes=[Route("/.well-known/oauth-authorization-server", metadata)])


@pytest.fixture
def issuer() -> Iterator[tuple[_Issuer, ServedApp]]:
    hostile = _Issuer()
    with serve_asgi(factory=hostile.app) as served:
        yield hostile, served


def _gateway(issuer: str) -> GatewayConfig:
    return GatewayConfig(
        resource="http://127.0.0.1:9/mcp", issuers=(IssuerConfig(issuer=issuer),), upstreams=()
    )


@pytest.mark.anyio
async def test_w2_gateway_discovery_refuses_a_look_alike_jwks_uri(
    issuer: tuple[_Issuer, ServedApp],
) -> None:
    hostile, served = issuer
    hostile.token_endpoint = f"{served.base_url}/token"  # only jwks_uri is a look-alike
    with pytest.raises(URLPolicyError, match="jwks_uri"):
        await build_verifier(_gateway(served.base_url))


@pytest.mark.anyio
async def test_w3_gateway_discovery_caps_the_metadata_body(
    issuer: tuple[_Issuer, ServedApp],
) -> None:
    hostile, served = issuer
    hostile.huge = True
    with pytest.raises(Exception, match="larger than 1048576 bytes") as caught:
        await build_verifier(_gateway(served.base_url))
    assert "no authorization server metadata found" in str(caught.value)


@pytest.mark.anyio
async def test_w2_gateway_discovery_refuses_a_look_alike_issuer() -> None:
    with pytest.raises(URLPolicyError, match="issuer"):
        await build_verifier(_gateway("http://127.evil.example"))


@pytest.mark.anyio
async def test_w2_gateway_client_credentials_never_sent_to_a_look_alike_token_endpoint(
    issuer: tuple[_Issuer, ServedApp],
) -> None:
    _, served = issuer
    credentials = make_credentials(
        CredentialsConfig(
            type="client_credentials",
            issuer=served.base_url,
            client_id="gw",
            client_secret="s3cret",
            resource="http://127.0.0.1:9/mcp",
        )
    )
    try:
        with pytest.raises(URLPolicyError, match="token_endpoint"):
            await credentials.authorization()
    finally:
        await credentials.aclose()


def test_w2_refusal_says_what_to_do() -> None:
    with pytest.raises(URLPolicyError) as caught:
        check_endpoint_url("http://127.evil.example/jwks", field="jwks_uri")
    text = str(caught.value)
    assert "127.evil.example" in text
    assert "https" in text
    assert json.dumps(text)  # printable, no token material
