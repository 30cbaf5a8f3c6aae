"""The gateway's per-issuer ``audience`` list (S-20, RFC 9068 §4, RFC 8707): Entra ID v2.

Entra v2 access tokens carry ``aud`` = the API app's client ID (a GUID), never the MCP URL, and
an Entra v2 issuer ``https://login.microsoftonline.com/<tenant>/v2.0``. Without ``audience`` in
``[[issuer]]`` the gateway checks ``aud`` = its ``resource`` and refuses every such token; with
``audience = ["<client id>"]`` it accepts them, and still refuses a token for another app.
Everything on loopback: the JWKS (an RSA test key, RS256 as Entra signs), a fake upstream, the
gateway built from its TOML-shaped configuration (verifier included, no ``verifier=`` override).
"""

from __future__ import annotations

import textwrap
import time
import tomllib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.docs import code_blocks
from tests.helpers.gateway import HEADERS, FakeUpstream
from zeroauth.core.errors import InvalidInput
from zeroauth.gateway import GatewayApp, parse_config

pytestmark = pytest.mark.anyio

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA_V2 = f"https://login.microsoftonline.com/{TENANT}/v2.0"
API_APP = "6e74172b-be56-4843-9ff4-e66a39bb12e3"  # the API app's client ID: v2 `aud`
OTHER_APP = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's client ID
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "entra-k1", "use": "sig"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def entra_v2_token(aud: str) -> str:
    """The shape of an Entra v2 delegated access token (access-tokens.md claims)."""
    now = int(time.time())
    claims = {
        "aud": aud,
        "iss": ENTRA_V2,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "azp": "11111111-2222-3333-4444-555555555555",
        "azpacr": "0",
        "oid": "d1f2a3b4-0000-0000-0000-000000000001",
        "sub": "AAAAAAAAAAAAAAAAAAAAAMxyz",
        "tid": TENANT,
        "scp": "mcp:fake:read",
        "ver": "2.0",
    }
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "entra-k1", "typ": "JWT"})


@pytest.fixture
async def jwks_url() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/keys", lambda _: JSONResponse({"keys": [JWK]}))])
    async with serve_asgi_async(app) as served:
        yield served.url("/keys")


def config(resource: str, upstream: str, jwks: str, **issuer: Any) -> Any:
    return parse_config(
        {
            "gateway": {"resource": resource},
            "issuer": [{"issuer": ENTRA_V2, "jwks_uri": jwks, "algorithms": ["RS256"], **issuer}],
            "upstream": [{"name": "fake", "url": upstream}],
        }
    )


async def initialize_status(jwks: str, token: str, **issuer: Any) -> int:
    async with serve_asgi_async(FakeUpstream()) as upstream:
        factory = lambda base: GatewayApp(  # noqa: E731
            config(base + "/mcp", upstream.url("/mcp"), jwks, **issuer), drain=0.1
        )
        async with serve_asgi_async(factory=factory) as gateway:
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx2.AsyncClient(timeout=30, headers={**HEADERS, **auth}) as http:
                response = await http.post(gateway.url("/mcp"), json=INITIALIZE)
    if response.status_code == 401:
        assert "audience" in response.headers["www-authenticate"]  # the reason, not a guess
    return response.status_code


async def test_s20_entra_v2_token_accepted_with_the_api_apps_client_id_as_audience(jwks_url):
    assert await initialize_status(jwks_url, entra_v2_token(API_APP), audience=[API_APP]) == 200


async def test_s20_entra_v2_token_refused_without_an_audience_list(jwks_url):
    """What following the old docs gave: aud = GUID is not the gateway's resource URL."""
    assert await initialize_status(jwks_url, entra_v2_token(API_APP)) == 401


async def test_s20_a_token_for_another_app_of_the_same_tenant_is_still_refused(jwks_url):
    assert await initialize_status(jwks_url, entra_v2_token(OTHER_APP), audience=[API_APP]) == 401


def test_audience_config_errors_say_what_to_write():
    base = {
        "gateway": {"resource": "https://mcp.example.com/mcp"},
        "upstream": [{"name": "fake", "url": "https://fake.example.com/mcp"}],
    }
    for bad, message in (
        ({"audience": []}, "not a list of audience strings"),
        ({"audience": "6e74172b"}, "wrong type"),
        ({"audience": [""]}, "not a list of audience strings"),
        ({"audience": [API_APP], "audience_check": False}, "audience_check = false"),
    ):
        with pytest.raises(InvalidInput, match=message) as caught:
            parse_config({**base, "issuer": [{"issuer": ENTRA_V2, **bad}]})
        assert "issuer[0].audience" in str(caught.value)
    good = parse_config(
        {**base, "issuer": [{"issuer": ENTRA_V2, "audience": [API_APP, "api://x"]}]}
    )
    assert good.issuers[0].audience == (API_APP, "api://x")


@pytest.mark.parametrize("page", ["docs/gateway.md", "docs/idp/entra.md"])
def test_the_documented_entra_issuer_tables_load(page):
    """The ``[[issuer]]`` examples of both pages are valid configuration, and agree: the v2
    issuer's ``audience`` is the client ID, the v1 issuer's the Application ID URI."""
    blocks = [b for b in code_blocks(page, "toml") if "audience = [" in b and "microsoft" in b]
    assert blocks, f"{page} lost its Entra [[issuer]] example"
    for block in blocks:
        text = block.replace("<tenant>", TENANT).replace("<API app client ID GUID>", API_APP)
        issuers = tomllib.loads(textwrap.dedent(text))["issuer"]
        config = parse_config(
            {
                "gateway": {"resource": "https://mcp.example.com/mcp"},
                "issuer": issuers,
                "upstream": [{"name": "fake", "url": "https://fake.example.com/mcp"}],
            }
        )
        by_issuer = {i.issuer: i.audience for i in config.issuers}
        assert by_issuer[ENTRA_V2] == (API_APP,)
        assert by_issuer[f"https://sts.windows.net/{TENANT}/"] == ("api://mcp-gateway",)
