"""The authorization bridge mounted in the gateway (issue 13 "Where it runs"; seed Example 3):
``zeroauth gateway --config gw.toml`` with a ``[bridge]`` section, as a real process, serves on
ONE origin the RFC 9728 protected-resource metadata naming the bridge as its authorization
server, the bridge (an RFC 8414 authorization server in front of the real oidc-provider shaped
like Entra ID: no registration, ``resource`` rejected, ``api://`` scopes) and the MCP endpoint
in front of a FastMCP server. MCP clients know only the gateway's MCP URL:

- the official ``mcp`` SDK client (DCR at the bridge) and zeroauth's client (CIMD... by default
  DCR here) get in and call a tool of the upstream MCP server through the gateway;
- the bridge's tokens carry ``aud`` = the gateway's MCP URL and are verified in the gateway's
  process (S-19/S-20), the gateway's own credentials still go upstream (G-16);
- ``zeroauth doctor`` on the gateway's MCP URL reports every check passed.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import jwt
import pytest
from fastmcp import FastMCP
from fastmcp.server.dependencies import get_http_headers
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.bridge import BRIDGE_CLIENT, BRIDGE_SECRET
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.integration.test_cli_servers import _free_port, _wait_for
from tests.realas.fixtures import ENTRA_APP_ID, RealAS, RealASFactory
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

CLI = [sys.executable, "-m", "zeroauth.cli"]
APP_ID_URI = f"api://{ENTRA_APP_ID}"
UPSTREAM_TOKEN = "gateway-own-credential-" + "u" * 16


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def notes_server() -> FastMCP:
    server = FastMCP("notes-upstream")

    @server.tool
    def echo(text: str) -> str:
        """Echo text, saying which credential the gateway used upstream."""
        auth = get_http_headers(include={"authorization"}).get("authorization", "")
        own = auth == f"Bearer {UPSTREAM_TOKEN}"
        return f"echo {text} (gateway credential: {own})"

    return server


def write_toml(path: Path, *, port: int, upstream_url: str, idp: RealAS) -> None:
    path.write_text(
        f"""
[gateway]
resource = "http://127.0.0.1:{port}/mcp"
port = {port}

[[upstream]]
name = "notes"
url = "{upstream_url}"
prefix = "notes_"
read_scopes = ["notes:read"]
write_scopes = ["notes:write"]
credentials = {{ type = "bearer", token_env = "GW_UPSTREAM_TOKEN" }}

[bridge]
database = "{path.parent / "bridge.sqlite"}"
encryption_key_env = "GW_BRIDGE_KEY"
auto_approve = true
allow_loopback_cimd = true

[bridge.upstream]
issuer = "{idp.issuer}"
client_id = "{BRIDGE_CLIENT}"
client_secret_env = "GW_BRIDGE_SECRET"
profile = "entra"
scopes = ["openid", "profile", "offline_access"]

[bridge.upstream.scope_map]
"notes:read" = "{APP_ID_URI}/notes.read"
"notes:write" = "{APP_ID_URI}/notes.write"
"""
    )


@dataclass
class Gateway:
    url: str
    origin: str
    idp: RealAS


@pytest.fixture
def gateway(real_as_factory: RealASFactory, tmp_path: Path) -> Iterator[Gateway]:
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    client = {"client_id": BRIDGE_CLIENT, "client_secret": BRIDGE_SECRET,
              "redirect_uris": [f"{origin}/callback"],
              "grant_types": ["authorization_code", "refresh_token"]}  # fmt: skip
    idp = real_as_factory(shape="entra", dcr=False, scopes="notes.read notes.write",
                          clients=[client], verbose=True)  # fmt: skip
    app = notes_server().http_app(path="/mcp", stateless_http=True, json_response=True)
    with serve_asgi(app) as upstream:
        toml = tmp_path / "gw.toml"
        write_toml(toml, port=port, upstream_url=upstream.url("/mcp"), idp=idp)
        env = {**os.environ, "ZEROAUTH_HOME": str(tmp_path),
               "GW_BRIDGE_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
               "GW_BRIDGE_SECRET": BRIDGE_SECRET, "GW_UPSTREAM_TOKEN": UPSTREAM_TOKEN}  # fmt: skip
        proc = subprocess.Popen([*CLI, "gateway", "--config", str(toml)], env=env,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _wait_for(f"{origin}/.well-known/oauth-authorization-server", proc)
            yield Gateway(f"{origin}/mcp", origin, idp)
        finally:
            proc.terminate()
            proc.wait(10)


def test_one_origin_serves_prm_bridge_and_mcp(gateway: Gateway) -> None:
    """RFC 9728 PRM names the bridge (the gateway's origin); RFC 8414 metadata there has the
    registration endpoint, PKCE S256 and RFC 9207 ``iss``; the upstream IdP has none of them."""
    with httpx2.Client(timeout=30, trust_env=False) as http:
        prm = http.get(f"{gateway.origin}/.well-known/oauth-protected-resource/mcp").json()
        md = http.get(f"{gateway.origin}/.well-known/oauth-authorization-server").json()
        refused = http.post(gateway.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert prm["resource"] == gateway.url
    assert prm["authorization_servers"] == [gateway.origin]
    assert set(prm["scopes_supported"]) == {"notes:read", "notes:write"}
    assert md["issuer"] == gateway.origin
    assert md["registration_endpoint"] == f"{gateway.origin}/register"
    assert md["code_challenge_methods_supported"] == ["S256"]
    assert md["authorization_response_iss_parameter_supported"] is True
    assert refused.status_code == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]


async def test_official_sdk_client_gets_in_knowing_only_the_gateway_url(
    gateway: Gateway,
) -> None:
    sdk = sdk_oauth_provider(gateway.url, "http://127.0.0.1:9/sdk-callback", "sdk via gateway")
    async with (
        httpx2.AsyncClient(auth=sdk.provider, timeout=30) as http,
        Client(streamable_http_client(gateway.url, http_client=http)) as client,
    ):
        tools = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool("notes_echo", {"text": "sdk"})
    assert "notes_echo" in tools
    assert not result.is_error, result
    assert result.content[0].text == "echo sdk (gateway credential: True)"  # type: ignore[union-attr]
    assert sdk.landed.get("iss") == gateway.origin  # RFC 9207, from the bridge
    tokens = sdk.provider.context.current_tokens
    assert tokens is not None
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["iss"] == gateway.origin
    assert claims["aud"] == gateway.url  # RFC 8707: the gateway's MCP URL
    assert claims["sub"] == f"{gateway.idp.issuer}#alice"
    assert "resource=" not in gateway.idp.log()  # Entra-like: never sent upstream


async def test_zeroauth_client_gets_in_and_refreshes(gateway: Gateway) -> None:
    """zeroauth's client, then (its clock an hour on) the same client refreshing at the bridge
    (RFC 6749 section 6: rotated) without a new authorization."""
    ahead = [0.0]
    auth = ZeroAuth(store=MemoryTokenStore(), url_policy=DEVELOPMENT,
                    user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
                    clock=lambda: time.time() + ahead[0])  # fmt: skip
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(gateway.url, http_client=http)) as client:
            result = await client.call_tool("notes_echo", {"text": "zeroauth"})
        first = auth.store.load("tokens", f"{gateway.origin} {gateway.url}")
        ahead[0] += 3590
        async with Client(streamable_http_client(gateway.url, http_client=http)) as client:
            again = await client.call_tool("notes_echo", {"text": "again"})
    assert not result.is_error, result
    assert not again.is_error, again
    assert first is not None
    assert auth.engine.transport.sent["refresh"] == 1
    assert result.content[0].text == "echo zeroauth (gateway credential: True)"  # type: ignore[union-attr]
    stored = auth.store.load("tokens", f"{gateway.origin} {gateway.url}")
    assert stored is not None
    claims = jwt.decode(stored["access_token"], options={"verify_signature": False})
    assert claims["aud"] == gateway.url
    assert "notes:read" in claims["scope"].split()
    assert auth.engine.user_steps == 1  # refreshed, never re-authorized
    assert stored["refresh_token"] != first["refresh_token"]


def test_doctor_on_the_gateway_url_reports_all_pass(gateway: Gateway) -> None:
    from zeroauth.cli.doctor import DoctorOptions, diagnose

    report = diagnose(gateway.url, DoctorOptions(policy=DEVELOPMENT))
    bad = [(c.id, c.status, c.found, c.fix) for c in report.checks if c.status in ("warn", "fail")]
    assert bad == []
    assert report.ok
    assert report.counts()["pass"] >= 25


def test_check_prints_the_bridge_and_its_callback(gateway: Gateway, tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env = {**os.environ, "GW_BRIDGE_KEY": key, "GW_BRIDGE_SECRET": "s", "GW_UPSTREAM_TOKEN": "t"}
    ok = subprocess.run([*CLI, "gateway", "--config", str(tmp_path / "gw.toml"), "--check"],
                        env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["authorization_servers"] == [gateway.origin]
    assert summary["bridge"]["callback (register it at the identity provider)"] == (
        f"{gateway.origin}/callback"
    )


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
IDP_API = "http://127.0.0.1:7/notes-api"  # the resource of the users' IdP tokens (never called)


def whoami_server() -> FastMCP:
    server = FastMCP("exchange-upstream")

    @server.tool
    def who() -> str:
        """The claims of the token the gateway brought (not verified here: only shown)."""
        auth = get_http_headers(include={"authorization"}).get("authorization", "")
        claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
        return json.dumps({k: claims.get(k) for k in ("iss", "aud", "sub", "act", "scope")})

    return server


async def test_token_exchange_upstream_gets_the_users_idp_token_exchanged(
    real_as_factory: RealASFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``type = "exchange"`` behind the gateway's bridge (RFC 8693): the IdP does not know the
    bridge's tokens, so the gateway exchanges the user's IdP token (held sealed by the bridge)
    for one bound to the upstream; the upstream sees the user as ``sub`` and the gateway's
    client in ``act``, never the bridge's token (G-16)."""
    from tests.helpers.asgi_server import serve_asgi_async
    from tests.helpers.client_world import Lazy
    from zeroauth.gateway import GatewayApp, parse_config

    monkeypatch.setenv("GW_BRIDGE_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    monkeypatch.setenv("GW_BRIDGE_SECRET", BRIDGE_SECRET)
    monkeypatch.setenv("GW_EXCHANGE_SECRET", "exchange-secret")
    upstream_app = whoami_server().http_app(path="/mcp", stateless_http=True, json_response=True)
    lazy = Lazy()
    async with serve_asgi_async(upstream_app) as upstream, serve_asgi_async(lazy) as front:
        origin, upstream_url = front.base_url, upstream.url("/mcp")
        idp = real_as_factory(dcr=False, scopes="notes:read notes:write", clients=[
            {"client_id": BRIDGE_CLIENT, "client_secret": BRIDGE_SECRET,
             "redirect_uris": [f"{origin}/callback"],
             "grant_types": ["authorization_code", "refresh_token"]},
            {"client_id": "gw-exchange", "client_secret": "exchange-secret",
             "token_endpoint_auth_method": "client_secret_basic", "grant_types": [TOKEN_EXCHANGE],
             "response_types": [], "redirect_uris": [],
             "acts_for": [IDP_API], "exchange_to": [upstream_url]},
        ])  # fmt: skip
        config = parse_config({
            "gateway": {"resource": f"{origin}/mcp"},
            "upstream": [{
                "name": "notes", "url": upstream_url, "prefix": "notes_",
                "read_scopes": ["notes:read"], "write_scopes": ["notes:write"],
                "credentials": {"type": "exchange", "issuer": idp.issuer,
                                "client_id": "gw-exchange",
                                "client_secret_env": "GW_EXCHANGE_SECRET",
                                "scope": ["notes:read", "notes:write"]},
            }],
            "bridge": {
                "database": str(tmp_path / "bridge.sqlite"), "encryption_key_env": "GW_BRIDGE_KEY",
                "auto_approve": True,
                "upstream": {"issuer": idp.issuer, "client_id": BRIDGE_CLIENT,
                             "client_secret_env": "GW_BRIDGE_SECRET",
                             "scopes": ["openid"], "resource": IDP_API},
            },
        })  # fmt: skip
        lazy.inner = GatewayApp(config, drain=0.1)
        auth = ZeroAuth(store=MemoryTokenStore(), url_policy=DEVELOPMENT,
                        user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool("notes_who", {})
        await lazy.inner.aclose()
    assert not result.is_error, result
    seen = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert seen["iss"] == idp.issuer  # the IdP's token, exchanged; not the bridge's
    assert seen["aud"] == upstream_url
    assert seen["sub"] == "alice"
    assert seen["act"]["sub"] == "gw-exchange"
    assert set(seen["scope"].split()) <= {"notes:read", "notes:write"}
