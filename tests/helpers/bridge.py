"""A bridged world on loopback: the real oidc-provider as an upstream IdP without registration
(``--no-dcr``, the bridge pre-registered as a confidential client), the authorization bridge
under uvicorn, and an official-SDK MCP server protected by zeroauth that trusts the bridge.

``bridge_world(real_as_factory, tmp_path, ...)`` yields a ``BridgeWorld``; ``world.restart()``
builds a new ``AuthorizationBridge`` on the same SQLite file behind the same URL.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from mcp.server.mcpserver import MCPServer

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.client_world import Lazy
from tests.realas.fixtures import RealAS, RealASFactory
from zeroauth.bridge import AuthorizationBridge, BridgeConfig, Upstream
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.devserver import ProtectedResource
from zeroauth.integrations import mcp_sdk as zmcp
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import current_token
from zeroauth.server._scopes import requires_scopes
from zeroauth.server._verifier import AccessToken

__all__ = ["BRIDGE_CLIENT", "BRIDGE_SECRET", "SCOPES", "BridgeWorld", "bridge_world"]

BRIDGE_CLIENT = "mcp-bridge"
BRIDGE_SECRET = "bridge-secret-" + "x" * 24
SCOPES = ("notes:read", "notes:write")


class _Verifier:
    """The MCP server's verifier of bridge tokens (closed at lifespan shutdown)."""

    def __init__(self, issuer: str, resource: str) -> None:
        self.jwks = JWKSCache(f"{issuer}/jwks", url_policy=DEVELOPMENT)
        self.jwt = JWTVerifier(issuer=issuer, resource=resource, jwks=self.jwks)

    async def verify(self, token: str) -> AccessToken:
        return await self.jwt.verify(token)

    async def aclose(self) -> None:
        await self.jwt.aclose()
        await self.jwks.aclose()


@dataclass
class BridgeWorld:
    upstream: RealAS
    bridge_server: ServedApp
    mcp_server: ServedApp
    config: BridgeConfig
    bridge: AuthorizationBridge
    lazy: Lazy
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.bridge_server.base_url

    @property
    def mcp_url(self) -> str:
        return self.mcp_server.url("/mcp")

    def restart(self, **changes: Any) -> AuthorizationBridge:
        """A new bridge on the same database (a process restart, as far as state goes)."""
        config = self.config if not changes else _replace(self.config, **changes)
        self.bridge = AuthorizationBridge(config)
        self.config = config
        self.lazy.inner = self.bridge.app()
        return self.bridge


def _replace(config: BridgeConfig, **changes: Any) -> BridgeConfig:
    from dataclasses import replace

    return replace(config, **changes)


def build_mcp(world: dict[str, Any]) -> MCPServer:
    server = MCPServer("bridged-notes")

    @server.tool()
    def whoami() -> str:
        token = current_token()
        return f"{token.subject if token else None} {sorted(token.scopes) if token else []}"

    @server.tool()
    @requires_scopes("notes:write")
    def write_note(text: str) -> str:
        return f"saved {text}"

    @server.tool()
    async def upstream_token() -> str:
        bridge: AuthorizationBridge = world["bridge"]
        return await bridge.upstream_token(current_token())

    return server


def build_fastmcp(world: dict[str, Any]) -> FastMCP:
    """The same tools on FastMCP."""
    server = FastMCP("bridged-notes-fastmcp")

    @server.tool
    def whoami() -> str:
        token = current_token()
        return f"{token.subject if token else None} {sorted(token.scopes) if token else []}"

    @server.tool
    async def upstream_token() -> str:
        bridge: AuthorizationBridge = world["bridge"]
        return await bridge.upstream_token(current_token())

    return server


@contextlib.contextmanager
def bridge_world(
    real_as_factory: RealASFactory,
    tmp_path: Path,
    *,
    auto_approve: bool = True,
    upstream_options: dict[str, Any] | None = None,
    realas_switches: dict[str, Any] | None = None,
    upstream_client: dict[str, Any] | None = None,
    **config: Any,
) -> Iterator[BridgeWorld]:
    bridge_lazy = Lazy()
    holder: dict[str, Any] = {}
    with serve_asgi(bridge_lazy) as bridge_server:
        issuer = bridge_server.base_url

        def make_mcp(base_url: str) -> Any:
            resource = base_url + "/mcp"
            holder["resource"] = resource
            return zmcp.protect(
                build_mcp(holder),
                verifier=_Verifier(issuer, resource),
                resource=resource,
                authorization_servers=[issuer],
                scopes_supported=list(SCOPES),
                required_scopes=["notes:read"],
            )

        with serve_asgi(factory=make_mcp) as mcp_server:
            client = {
                "client_id": BRIDGE_CLIENT,
                "client_secret": BRIDGE_SECRET,
                "redirect_uris": [f"{issuer}/callback"],
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                **(upstream_client or {}),
            }
            client = {k: v for k, v in client.items() if v is not None}
            switches = {"dcr": False, "scopes": " ".join(SCOPES), "clients": [client]}
            switches.update(realas_switches or {})
            upstream = real_as_factory(**switches)
            options: dict[str, Any] = {
                "issuer": upstream.issuer,
                "client_id": BRIDGE_CLIENT,
                "client_secret": BRIDGE_SECRET,
                "scopes": ("openid",),
                "resource": f"{upstream.base_url}/api",
            }
            options.update(upstream_options or {})
            bridge_config = BridgeConfig(
                issuer=issuer,
                resources=(ProtectedResource(resource=holder["resource"], scopes=SCOPES),),
                upstream=Upstream(**options),
                database=str(tmp_path / "bridge.sqlite"),
                encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                auto_approve=auto_approve,
                allow_loopback_cimd=True,
                **config,
            )
            bridge = AuthorizationBridge(bridge_config)
            holder["bridge"] = bridge
            bridge_lazy.inner = bridge.app()
            world = BridgeWorld(upstream, bridge_server, mcp_server, bridge_config, bridge,
                                bridge_lazy)  # fmt: skip
            world.extra = holder
            yield world
