"""The gateway as one ASGI app: PRM + BearerAuth + the MCP endpoint + operations.

- ``/.well-known/oauth-protected-resource[/path]`` (RFC 9728, S-01..S-09) and every 401/403
  challenge come from :class:`zeroauth.server._middleware.BearerAuth`, configured with the
  gateway's resource and trusted issuers (S-10..S-28, B7-B10, B13).
- ``health_path`` (liveness: the process answers), ``ready_path`` (token keys loaded and at
  least one upstream catalog), ``metrics_path`` (Prometheus text) are served without a token;
  restrict them at the network level or turn them off with ``""``.
- Structured access log (logger ``zeroauth.gateway.access``, one JSON object per request, at
  INFO): HTTP method and path, status, duration, MCP method and target, the caller's ``sub`` and
  ``client_id``, the auth failure reason. Never a token or a header value.
- ``reload(config)`` builds a complete new state (verifier, upstream pools, catalogs) and swaps
  it in atomically; requests in flight finish on the old state, whose connections are closed
  after ``drain`` seconds. ``SIGHUP`` triggers it when the app knows its config file. No
  listening socket is touched, so no connection is dropped. Graceful shutdown is uvicorn's.
- ``[bridge]``: the authorization bridge (``zeroauth.bridge``) on the same origin. Its paths
  (RFC 8414 metadata, ``/authorize``, ``/token``, ``/register``, ``/jwks``, ``/callback``, ...)
  go to the bridge, the PRM names it first in ``authorization_servers`` and its tokens are
  verified in process (its keys are never fetched). It is kept across reloads unless its
  configuration changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from zeroauth.core.resource_metadata import well_known_prm_url
from zeroauth.gateway._aggregate import Aggregator
from zeroauth.gateway._auth import build_verifier
from zeroauth.gateway._config import GatewayConfig, UpstreamConfig, load_config
from zeroauth.gateway._credentials import make_credentials
from zeroauth.gateway._endpoint import MCPEndpoint, respond
from zeroauth.gateway._identity import IdentitySigner
from zeroauth.gateway._metrics import Metrics
from zeroauth.gateway._ops import load_keys, observe, ready
from zeroauth.gateway._stdio import StdioUpstream
from zeroauth.gateway._upstream import MCPUpstream, Upstream
from zeroauth.server._dpop import DPoP
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth
from zeroauth.server._scopes import ScopePolicy
from zeroauth.server._verifier import AccessToken, TokenVerifier

if TYPE_CHECKING:
    from zeroauth.bridge import AuthorizationBridge

__all__ = ["GatewayApp", "build_state"]

log = logging.getLogger("zeroauth.gateway")


@dataclass(slots=True)
class _State:
    config: GatewayConfig
    verifier: TokenVerifier
    aggregator: Aggregator
    app: BearerAuth
    own_verifier: bool

    async def aclose(self) -> None:
        await self.aggregator.aclose()
        close = getattr(self.verifier, "aclose", None)
        if self.own_verifier and close is not None:
            await close()


async def build_state(
    config: GatewayConfig,
    *,
    metrics: Metrics,
    verifier: TokenVerifier | None = None,
    bridge: AuthorizationBridge | None = None,
) -> _State:
    """Everything a configuration needs, built and checked before it serves a request."""
    own = verifier is None
    if verifier is None:
        mine = {bridge.config.issuer: bridge.verifier(config.resource)} if bridge else None
        verifier = await build_verifier(config, mine)
    policy = ScopePolicy(required=config.required_scopes, hierarchy=config.full_hierarchy)
    identity = IdentitySigner(config.identity, issuer=config.resource) if config.identity else None
    aggregator = Aggregator(
        [_upstream(up, bridge) for up in config.upstreams],
        policy,
        catalog_ttl=config.catalog_ttl,
        metrics=metrics,
        identity=identity,
    )
    path = _path(config.resource)
    endpoint = MCPEndpoint(
        aggregator,
        path=path,
        resource_metadata=well_known_prm_url(config.resource),
        server_name=config.server_name,
        instructions=config.instructions,
        max_body_size=config.max_body_size,
    )
    app = BearerAuth(
        endpoint,
        verifier=verifier,
        resource=config.resource,
        authorization_servers=list(config.authorization_servers),
        scopes_supported=config.scopes_supported,
        scope_policy=policy,
        resource_name=config.resource_name,
        mcp_path=path,
        max_body_size=config.max_body_size,
        dpop=None if config.dpop == "off" else DPoP(required=config.dpop == "required"),
    )
    return _State(config, verifier, aggregator, app, own)


def _upstream(config: UpstreamConfig, bridge: AuthorizationBridge | None) -> MCPUpstream:
    if config.stdio is not None:
        return StdioUpstream(config)
    if bridge is None or config.credentials.type != "exchange":
        return Upstream(config)
    # behind the bridge, token exchange sends the user's upstream token (``_credentials``)
    subject = bridge.upstream_token

    async def subject_token(caller: AccessToken) -> str:
        return await subject(caller)

    credentials = make_credentials(config.credentials, subject_token=subject_token)
    return Upstream(config, credentials=credentials)


def _bridge(config: GatewayConfig) -> AuthorizationBridge | None:
    if config.bridge is None:
        return None
    from zeroauth.bridge import AuthorizationBridge  # the bridge imports the gateway's reader

    return AuthorizationBridge(config.bridge)


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


class GatewayApp:
    """See the module docstring. ``verifier`` replaces the configured issuers (tests, benches)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        config_path: str | Path | None = None,
        verifier: TokenVerifier | None = None,
        drain: float = 30.0,
        warm_up: bool = True,
    ) -> None:
        self.config = config
        self.config_path = Path(config_path) if config_path else None
        self.metrics = Metrics()
        self.drain = drain
        self._verifier = verifier
        self._warm_up = warm_up
        self._state: _State | None = None
        self._starting: asyncio.Lock | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._ops = self._ops_paths(config)
        self.bridge: AuthorizationBridge | None = None
        self._front: ASGIApp | None = None
        self._set_bridge(config)

    def _set_bridge(self, config: GatewayConfig) -> None:
        """The bridge of ``config`` (the running one when its configuration is unchanged), in
        front of the gateway for the bridge's exact paths; a path both claim is refused."""
        if self.bridge is not None and self.bridge.config == config.bridge:
            return
        bridge = _bridge(config)
        front = bridge.together(self._serve) if bridge is not None else None
        if bridge is not None:
            ours = {_path(config.resource), *self._ops_paths(config)}
            taken = sorted(ours & set(getattr(front, "paths", ())))
            if taken:
                raise ValueError(
                    f"{config.source}: the bridge's endpoint(s) {taken} collide with the "
                    "gateway's paths; move the bridge under a path ([bridge] issuer = "
                    '"https://host/auth") or change [gateway] resource / *_path'
                )
        self.bridge, self._front = bridge, front

    @staticmethod
    def _ops_paths(config: GatewayConfig) -> dict[str, str]:
        pairs = (
            (config.health_path, "health"),
            (config.ready_path, "ready"),
            (config.metrics_path, "metrics"),
        )
        return {path: kind for path, kind in pairs if path}

    @property
    def aggregator(self) -> Aggregator | None:
        return self._state.aggregator if self._state else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        if self._front is not None:  # the bridge's paths to the bridge, the rest to _serve
            await self._front(scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        op = self._ops.get(scope["path"])
        if op == "health":
            await respond(send, 200, b'{"status":"ok"}')
            return
        state = self._state or await self.start()
        if op == "ready":
            await ready(state.verifier, state.aggregator, send)
        elif op == "metrics":
            await respond(send, 200, self.metrics.render(), kind=b"text/plain; version=0.0.4")
        else:
            await observe(self.metrics, state.app, scope, receive, send)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> _State:
        """Build the state now (also done lazily by the first request without lifespan)."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._state is None:
                self._state = await build_state(
                    self.config, metrics=self.metrics, verifier=self._verifier, bridge=self.bridge
                )
                if self._warm_up:
                    self._spawn(self._prepare(self._state))
        return self._state

    async def _prepare(self, state: _State) -> None:
        """Warm-up: JWKS and upstream sessions/catalogs, so the first caller pays nothing."""
        jobs: list[Any] = [state.aggregator.refresh_all()]
        if isinstance(state.verifier, JWTVerifier) and not state.verifier.jwks.loaded:
            jobs.append(load_keys(state.verifier))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("warm-up: %s", result)

    async def reload(self, config: GatewayConfig | None = None) -> bool:
        """Swap in a new configuration (re-read from ``config_path`` when none is given)."""
        try:
            if config is None:
                if self.config_path is None:
                    raise RuntimeError("no configuration file to reload")
                config = load_config(self.config_path)
            previous = self.bridge, self._front
            self._set_bridge(config)
            try:
                state = await build_state(
                    config, metrics=self.metrics, verifier=self._verifier, bridge=self.bridge
                )
            except Exception:
                self.bridge, self._front = previous
                raise
        except Exception as exc:
            self.metrics.reloads["failed"] += 1
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        old, self._state, self.config = self._state, state, config
        self._ops = self._ops_paths(config)
        self.metrics.reloads["ok"] += 1
        log.info("configuration reloaded: %d upstream(s)", len(config.upstreams))
        if self._warm_up:
            self._spawn(self._prepare(state))
        if old is not None:
            self._spawn(self._retire(old))
        return True

    async def _retire(self, state: _State) -> None:
        await asyncio.sleep(self.drain)
        await state.aclose()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._state is not None:
            await self._state.aclose()
            self._state = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        sighup = False
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                if (
                    self.config_path is not None
                    and threading.current_thread() is threading.main_thread()
                ):
                    loop = asyncio.get_running_loop()
                    loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
                    sighup = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if sighup:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
                with contextlib.suppress(Exception):
                    await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
