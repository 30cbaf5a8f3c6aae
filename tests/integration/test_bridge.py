"""End to end through the authorization bridge (issue 13 item 2): the real oidc-provider as an
upstream IdP that cannot register MCP clients (``--no-dcr``), the bridge pre-registered there,
an official-SDK MCP server protected by zeroauth that knows only the bridge; zeroauth's client
and the official ``mcp`` SDK client each get in knowing only the MCP URL (MCP authorization
2026-07-28; AS-xx behaviours of the bridge's core are the dev AS's).
"""

from __future__ import annotations

import base64
import json
import secrets
import traceback
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.bridge import (
    BRIDGE_CLIENT,
    BRIDGE_SECRET,
    SCOPES,
    bridge_world,
    build_fastmcp,
    build_mcp,
)
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.realas.fixtures import RealASFactory
from zeroauth.bridge import AuthorizationBridge, BridgeConfig, Upstream
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.devserver import ProtectedResource
from zeroauth.integrations import fastmcp as zfastmcp
from zeroauth.integrations import mcp_sdk as zmcp

pytestmark = [pytest.mark.realas, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def zero_auth(**options: Any) -> ZeroAuth:
    return ZeroAuth(
        store=options.pop("store", MemoryTokenStore()),
        url_policy=DEVELOPMENT,
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        **options,
    )


def text(result: Any) -> str:
    return str(result.content[0].text)


async def test_zeroauth_client_gets_in_through_the_bridge_knowing_only_the_mcp_url(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with bridge_world(real_as_factory, tmp_path) as w:
        auth = zero_auth()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
            # sub = the upstream subject qualified by the upstream issuer; scopes mapped 1:1
            assert who.startswith(f"{w.upstream.issuer}#")
            assert "notes:read" in who
            upstream = text(await client.call_tool("upstream_token", {}))
        # the MCP server reads the user's upstream token; it is the upstream's, never ours
        claims = jwt.decode(upstream, options={"verify_signature": False})
        assert claims["iss"] == w.upstream.issuer
        assert claims["client_id"] == BRIDGE_CLIENT
        assert auth.engine.user_steps == 1


async def test_official_sdk_client_gets_in_through_the_bridge(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with bridge_world(real_as_factory, tmp_path) as w:
        sdk = sdk_oauth_provider(w.mcp_url, "http://127.0.0.1:9/sdk-callback", "sdk via bridge")
        async with (
            httpx2.AsyncClient(auth=sdk.provider, timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
        assert who.startswith(f"{w.upstream.issuer}#")
        assert sdk.landed.get("iss") == w.issuer  # RFC 9207 from the bridge, not the upstream


async def test_scope_mapping_grants_an_mcp_scope_only_if_the_upstream_granted_its_scope(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """notes:write maps to an upstream scope the IdP does not grant: the bridge's token lacks
    notes:write, and the MCP server answers the write tool with 403 (insufficient_scope)."""
    options = {"scope_map": {"notes:write": "admin:everything"}}
    with bridge_world(real_as_factory, tmp_path, upstream_options=options) as w:
        seen: dict[str, str] = {}
        try:
            async with (
                httpx2.AsyncClient(auth=zero_auth(), timeout=30) as http,
                Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
            ):
                seen["who"] = text(await client.call_tool("whoami", {}))
                await client.call_tool("write_note", {"text": "x"})
        except BaseException as exc:  # an exception group from the SDK's task group
            seen["error"] = "".join(traceback.format_exception(exc))
        assert "notes:read" in seen["who"]
        assert "notes:write" not in seen["who"]
        # the client stepped up (C-40) and the bridge still did not grant notes:write
        assert "StepUpLimitError" in seen["error"]


async def test_the_upstream_token_is_refreshed_upstream_when_near_expiry(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """Upstream access tokens live 30 s here (< the 60 s margin): each read refreshes them at the
    upstream with its rotating refresh token, sealed again in the store."""
    with bridge_world(real_as_factory, tmp_path, realas_switches={"access_token_ttl": 30}) as w:
        auth = zero_auth()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            first = text(await client.call_tool("upstream_token", {}))
            second = text(await client.call_tool("upstream_token", {}))
            third = text(await client.call_tool("upstream_token", {}))
        assert len({first, second, third}) == 3  # each one fresh from the upstream
        assert jwt.decode(third, options={"verify_signature": False})["iss"] == w.upstream.issuer


@pytest.mark.parametrize("kind", ["mcp_sdk", "fastmcp"])
async def test_one_process_protect_with_bridge_serves_prm_bridge_and_mcp_on_one_origin(
    real_as_factory: RealASFactory, tmp_path: Path, kind: str
) -> None:
    """``protect(..., bridge=...)``: the protected resource metadata names the bridge on the
    same origin; the bridge's tokens are verified with its keys in process (no JWKS fetch)."""
    holder: dict[str, Any] = {}

    def factory(base_url: str) -> Any:
        client = {"client_id": BRIDGE_CLIENT, "client_secret": BRIDGE_SECRET,
                  "redirect_uris": [f"{base_url}/callback"],
                  "grant_types": ["authorization_code", "refresh_token"]}  # fmt: skip
        upstream = real_as_factory(dcr=False, scopes=" ".join(SCOPES), clients=[client])
        holder["upstream"] = upstream
        resource = f"{base_url}/mcp"
        bridge = AuthorizationBridge(
            BridgeConfig(
                issuer=base_url,
                resources=(ProtectedResource(resource=resource, scopes=SCOPES),),
                upstream=Upstream(
                    issuer=upstream.issuer,
                    client_id=BRIDGE_CLIENT,
                    client_secret=BRIDGE_SECRET,
                    resource=f"{upstream.base_url}/api",
                ),
                database=str(tmp_path / "one.sqlite"),
                encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                auto_approve=True,
                allow_loopback_cimd=True,
            )
        )
        holder["bridge"] = bridge
        protect, build = (
            (zmcp.protect, build_mcp) if kind == "mcp_sdk" else (zfastmcp.protect, build_fastmcp)
        )
        return protect(
            build(holder),
            resource=resource,
            bridge=bridge,
            scopes_supported=list(SCOPES),
            required_scopes=["notes:read"],
        )

    with serve_asgi(factory=factory) as served:
        mcp_url = served.url("/mcp")
        async with httpx2.AsyncClient(timeout=10) as http:
            prm = (await http.get(served.url("/.well-known/oauth-protected-resource/mcp"))).json()
        assert prm["authorization_servers"] == [served.base_url]
        auth = zero_auth()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
            upstream_token = text(await client.call_tool("upstream_token", {}))
        assert who.startswith(f"{holder['upstream'].issuer}#")
        claims = jwt.decode(upstream_token, options={"verify_signature": False})
        assert claims["iss"] == holder["upstream"].issuer


def _ec_key() -> tuple[str, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return pem, {**public, "use": "sig", "alg": "ES256", "kid": "bridge-1"}


@pytest.mark.parametrize("method", ["client_secret_post", "private_key_jwt"])
async def test_the_bridge_authenticates_upstream_with_each_confidential_method(
    real_as_factory: RealASFactory, tmp_path: Path, method: str
) -> None:
    """OAuth 2.1 §2.4 / RFC 7523 §2.2: the bridge is one confidential client at the upstream."""
    registered: dict[str, Any] = {"token_endpoint_auth_method": method}
    options: dict[str, Any] = {"auth_method": method}
    if method == "private_key_jwt":
        pem, jwk = _ec_key()
        registered.update(client_secret=None, jwks={"keys": [jwk]},
                          token_endpoint_auth_signing_alg="ES256")  # fmt: skip
        options.update(client_secret=None, private_key=pem, signing_alg="ES256")
    with bridge_world(real_as_factory, tmp_path, upstream_client=registered,
                      upstream_options=options) as w:  # fmt: skip
        async with (
            httpx2.AsyncClient(auth=zero_auth(), timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
        assert who.startswith(f"{w.upstream.issuer}#")
