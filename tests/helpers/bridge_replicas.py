"""Bridge replicas on loopback sharing only Redis and the upstream IdP (fleet issue: "2 bridge
replicas behind a small round-robin load balancer").

``bridge_replicas(upstream_factory, redis_url, prefix)`` binds the balancer's socket first (its
URL is the bridge's issuer and the upstream redirect URI's origin), starts the real
oidc-provider as the upstream with the bridge pre-registered there, then ``count`` bridges with
the same configuration (same Redis URL and prefix, same encryption key) each under its own
uvicorn, and the balancer in front. ``log`` records (path, replica) of every request.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.balancer import RoundRobin
from tests.helpers.bridge import BRIDGE_CLIENT, BRIDGE_SECRET, SCOPES
from tests.realas.fixtures import RealAS
from zeroauth.bridge import AuthorizationBridge, BridgeConfig, Upstream
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.devserver import ProtectedResource

__all__ = ["RESOURCE", "BridgeReplicas", "RecordingBalancer", "bridge_replicas"]

RESOURCE = "http://127.0.0.1:9/mcp"


class RecordingBalancer(RoundRobin):
    """Round robin that also records which replica served which path."""

    def __init__(self, replicas: list[str]) -> None:
        super().__init__(replicas)
        self.log: list[tuple[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.log.append((scope["path"], (len(self.order)) % len(self.replicas)))
        await super().__call__(scope, receive, send)


@dataclass
class BridgeReplicas:
    issuer: str
    upstream: RealAS
    balancer: RecordingBalancer
    bridges: list[AuthorizationBridge]
    urls: list[str]
    config: BridgeConfig
    extra: dict[str, Any] = field(default_factory=dict)


@asynccontextmanager
async def bridge_replicas(
    upstream_factory: Callable[..., RealAS],
    redis_url: str,
    prefix: str,
    *,
    count: int = 2,
    **config: Any,
) -> AsyncIterator[BridgeReplicas]:
    sock = bind_loopback()
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = {
        "client_id": BRIDGE_CLIENT,
        "client_secret": BRIDGE_SECRET,
        "redirect_uris": [f"{issuer}/callback"],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    upstream = upstream_factory(dcr=False, scopes=" ".join(SCOPES), clients=[client])
    bridge_config = BridgeConfig(
        issuer=issuer,
        resources=(ProtectedResource(resource=RESOURCE, scopes=SCOPES),),
        upstream=Upstream(
            issuer=upstream.issuer,
            client_id=BRIDGE_CLIENT,
            client_secret=BRIDGE_SECRET,
            scopes=("openid", "offline_access"),
            resource=f"{upstream.base_url}/api",
        ),
        encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        allow_loopback_cimd=True,
        redis_url=redis_url,
        redis_prefix=prefix,
        **config,
    )
    async with AsyncExitStack() as stack:
        bridges, urls = [], []
        for _ in range(count):
            bridge = AuthorizationBridge(bridge_config)  # its own connections, nothing shared
            stack.callback(bridge.core.store.close)
            bridges.append(bridge)
            urls.append((await stack.enter_async_context(serve_asgi_async(bridge.app()))).base_url)
        balancer = RecordingBalancer(urls)
        stack.push_async_callback(balancer.aclose)
        await stack.enter_async_context(serve_socket(balancer, sock))
        yield BridgeReplicas(issuer, upstream, balancer, bridges, urls, bridge_config)
