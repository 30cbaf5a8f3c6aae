"""The authorization bridge: an MCP authorization server (2026-07-28) in front of an upstream IdP
that cannot register MCP clients.

Towards MCP clients it is the dev authorization server's core (RFC 8414 metadata at every
well-known form, CIMD and RFC 7591 registration, PKCE S256 only, RFC 8707 ``resource`` checked,
RFC 9207 ``iss``, exact redirect-URI matching, single-use codes, rotating refresh tokens with
reuse detection, RFC 7009 revocation, RFC 7662 introspection) with the user-authentication step
replaced by a login at the upstream IdP (``_login``). Its own RFC 9068 access tokens carry
``aud`` = the MCP resource, ``sub`` = the upstream subject qualified by the upstream issuer
(``<issuer>#<sub>``) and the MCP scopes the upstream granted through the scope mapping.

Not offered here: the device grant and token exchange (they authenticate users elsewhere) and
``client_credentials`` (no machine clients).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from zeroauth.bridge._config import BridgeConfig
from zeroauth.bridge._login import UpstreamLoginStep
from zeroauth.bridge._refresh import UpstreamCheckedRefresh
from zeroauth.bridge._store import BridgeStore
from zeroauth.bridge._stores import LiveJWKS, open_stores
from zeroauth.bridge._upstream import UpstreamClient
from zeroauth.bridge._vault import UpstreamTokenError, UpstreamVault, keyring_of
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig
from zeroauth.devserver._store import DevStore
from zeroauth.server._jwt import JWTVerifier

__all__ = ["AuthorizationBridge"]


class AuthorizationBridge:
    """The bridge: ``app()`` serves it; ``upstream_token(claims)`` is for the MCP server."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        store: BridgeStore | None = None,
        core_store: DevStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        assert config.encryption_key is not None  # BridgeConfig requires it
        if store is None or core_store is None:  # SQLite file, or Redis shared by replicas
            bridge_store, default_core = open_stores(config)
            store = store if store is not None else bridge_store
            core_store = core_store if core_store is not None else default_core
        self.store: BridgeStore = store
        self.upstream = UpstreamClient(
            config.upstream, redirect_uri=config.callback_url, timeout=config.upstream_timeout
        )
        self.vault = UpstreamVault(self.store, keyring_of(config.encryption_key), self.upstream)
        self._login = UpstreamLoginStep(
            config, self.store, self.upstream, self.vault, forms_store=core_store
        )
        core_config = DevServerConfig(
            issuer=config.issuer,
            resources=tuple(config.resources),
            dpop=config.dpop,
            database=config.database,
            access_token_lifetime=config.access_token_lifetime,
            refresh_token_lifetime=config.refresh_token_lifetime,
            allow_loopback_cimd=config.allow_loopback_cimd,
            key_rotation_days=config.key_rotation_days,
        )
        self.core = DevAuthorizationServer(
            core_config, core_store, authenticator=self._login, clock=clock
        )
        self.core.token.grants.pop("client_credentials", None)  # no machine clients here
        if config.upstream_check_on_refresh:  # a user ended upstream stops refreshing here
            grants = self.core.token.grants
            grants["refresh_token"] = UpstreamCheckedRefresh(
                grants["refresh_token"], self.core.token, self.core.store, self.vault
            )
        self._login.endpoint = self.core.authorization

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 §2 metadata of the bridge."""
        return self.core.metadata()

    def app(self) -> Starlette:
        base = self.core.app()
        path = urlsplit(self.config.issuer.rstrip("/")).path
        routes: list[BaseRoute] = [
            *base.routes,
            Route(f"{path}/callback", self._login.callback, methods=["GET"]),
            Route(f"{path}/consent", self._login.decision, methods=["POST"]),
        ]
        return Starlette(  # CORS as the core; a store failure is a 503, never a 500
            routes=routes,
            middleware=base.user_middleware,
            exception_handlers=base.exception_handlers,
        )

    def verifier(self, resource: str) -> JWTVerifier:
        """A verifier of this bridge's access tokens for ``resource`` (RFC 9068; the keys are
        read in process, never fetched): for an MCP server in the bridge's own process."""
        jwks = LiveJWKS(self.core.key)  # follows key rotation
        return JWTVerifier(
            issuer=self.config.issuer, resource=resource, jwks=jwks, algorithms=(self.core.key.alg,)
        )

    def together(self, app: ASGIApp) -> ASGIApp:
        """``app`` (a protected MCP server on the bridge's origin) and the bridge's endpoints as
        one ASGI app: requests for a bridge path go to the bridge, the rest (and the lifespan)
        to ``app``."""
        bridge_app = self.app()
        paths = frozenset(getattr(r, "path", "") for r in bridge_app.routes) - {""}
        return _Together(bridge_app, app, paths)

    async def upstream_token(self, claims: Any) -> str:
        """The current user's upstream access token, for verified bridge-token ``claims``
        (a mapping with ``sub``, or an ``AccessToken`` with ``subject``); refreshed at the
        upstream when near expiry. ``UpstreamTokenError`` when there is none."""
        subject = getattr(claims, "subject", None)
        issuer = getattr(claims, "issuer", None)
        if subject is None and hasattr(claims, "get"):
            subject, issuer = claims.get("sub"), claims.get("iss")
        if not isinstance(subject, str) or not subject:
            raise UpstreamTokenError("the claims name no subject", hint="pass verified claims")
        if issuer is not None and issuer != self.config.issuer:
            raise UpstreamTokenError(
                "the token was not issued by this bridge",
                expected=self.config.issuer,
                found=issuer,
                hint="only the bridge's own access tokens give access to upstream tokens",
            )
        return await self.vault.access_token(subject)


class _Together:
    """Routes the bridge's exact paths to the bridge, everything else to the MCP app."""

    def __init__(self, bridge: ASGIApp, app: ASGIApp, paths: frozenset[str]) -> None:
        self._bridge, self._app, self.paths = bridge, app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self._bridge(scope, receive, send)
        else:
            await self._app(scope, receive, send)
