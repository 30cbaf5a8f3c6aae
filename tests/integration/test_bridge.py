"""End to end through the authorization bridge (issue 13 item 2): the real oidc-provider as an
upstream IdP that cannot register MCP clients (``--no-dcr``), the bridge pre-registered there,
an official-SDK MCP server protected by zeroauth that knows only the bridge; zeroauth's client
and the official ``mcp`` SDK client each get in knowing only the MCP URL (MCP authorization
2026-07-28; AS-xx behaviours of the bridge's core are the dev AS's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.bridge import BRIDGE_CLIENT, bridge_world
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.realas.fixtures import RealASFactory
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

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
