"""Many upstream MCP servers presented as one (MCP 2025-11-25 / 2026-07-28 server features).

``tools/list`` merges the upstream tools under their prefixes and shows a caller only the tools
its scopes allow (S-15..S-17 with the configured hierarchy); ``tools/call`` is routed to the
owning upstream with the prefix removed, after the scope check (a refusal becomes HTTP 403
``insufficient_scope`` naming exactly the tool's scopes: B8). Resources (by URI) and prompts (by
prefixed name) follow the same pattern with the upstream's read scopes. An unreachable upstream
yields a JSON-RPC error for that upstream only and is left out of listings until it answers.

Which scopes a tool needs: the upstream's explicit ``tools`` table first; else the upstream's
``read_scopes`` when the tool is annotated ``readOnlyHint: true`` (and annotations are
trusted); else its ``write_scopes``. Catalogs are cached for ``catalog_ttl`` seconds, then
served stale while one background task per upstream refreshes them, so a slow upstream never
stalls the other callers (``zeroauth.gateway._refresh``, SECURITY B16).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from zeroauth.gateway._catalog import Route
from zeroauth.gateway._identity import IdentitySigner
from zeroauth.gateway._metrics import Metrics
from zeroauth.gateway._refresh import COLD_WAIT, RETRY_DOWN, CatalogRefresher
from zeroauth.gateway._upstream import MCPUpstream, UpstreamError
from zeroauth.server._scopes import ScopePolicy
from zeroauth.server._verifier import AccessToken

__all__ = ["Aggregator", "MissingScopeError", "RPCError"]

log = logging.getLogger("zeroauth.gateway")

INVALID_PARAMS = -32602
UPSTREAM_UNAVAILABLE = -32010  # implementation-defined band -32000..-32019 (MCP 2026-07-28)
UPSTREAM_FAILED = -32011
_UNKNOWN_NAME_REFRESH = 5.0  # an unknown name refreshes a catalog at most this often


class RPCError(Exception):
    """Answered as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class MissingScopeError(Exception):
    """The caller lacks scopes: answered as HTTP 403 ``insufficient_scope`` (RFC 6750 §3.1)."""

    def __init__(self, needed: tuple[str, ...], what: str) -> None:
        super().__init__(what)
        self.needed = needed
        self.what = what


class Aggregator:
    """Routing tables built from the upstream catalogs, and the MCP operations on them."""

    def __init__(
        self,
        upstreams: Sequence[MCPUpstream],
        policy: ScopePolicy,
        *,
        catalog_ttl: float = 60.0,
        metrics: Metrics | None = None,
        identity: IdentitySigner | None = None,
        cold_wait: float = COLD_WAIT,
    ) -> None:
        self.upstreams = tuple(upstreams)
        self.policy = policy
        self.ttl = catalog_ttl
        self.metrics = metrics or Metrics()
        self.identity = identity
        self._refresher = CatalogRefresher(
            self.upstreams,
            ttl=catalog_ttl,
            metrics=self.metrics,
            on_change=self._rebuild,
            cold_wait=cold_wait,
        )
        self._catalogs = self._refresher.catalogs  # the same dict, filled by the refreshes
        self._tools: dict[str, Route] = {}
        self._prompts: dict[str, Route] = {}
        self._resources: dict[str, Route] = {}
        self._version = 0
        self._visible: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(self, token: AccessToken) -> dict[str, Any]:
        await self._refresher.for_listing()
        listed = self._refresher.listed()
        key = (self._version, token.scopes, *(up.name for up in listed))
        tools = self._visible.get(key)
        if tools is None:
            tools = [
                route.listing
                for up in listed
                for route in self._catalogs[up.name].tools
                if self.policy.satisfies(token.scopes, route.needed)
            ]
            if len(self._visible) > 256:
                self._visible.clear()
            self._visible[key] = tools
        return {"tools": tools}

    async def call_tool(self, token: AccessToken, request_id: object, params: Any) -> bytes:
        """The hot path: route, check scopes, forward; returns the upstream's response bytes."""
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            raise RPCError(INVALID_PARAMS, "tools/call needs params.name (a string)")
        route = self._tools.get(name) or await self._find("_tools", name, "tool")
        return await self._forward(token, request_id, "tools/call", params, route, f"tool {name}")

    # -- prompts and resources -----------------------------------------------------------------

    async def list_prompts(self, token: AccessToken) -> dict[str, Any]:
        await self._refresher.for_listing()
        return {"prompts": self._visible_listings(token, "prompts")}

    async def get_prompt(self, token: AccessToken, request_id: object, params: Any) -> bytes:
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            raise RPCError(INVALID_PARAMS, "prompts/get needs params.name (a string)")
        route = self._prompts.get(name) or await self._find("_prompts", name, "prompt")
        return await self._forward(
            token, request_id, "prompts/get", params, route, f"prompts/get {name}"
        )

    async def list_resources(self, token: AccessToken) -> dict[str, Any]:
        await self._refresher.for_listing()
        return {"resources": self._visible_listings(token, "resources")}

    async def list_templates(self, token: AccessToken) -> dict[str, Any]:
        await self._refresher.for_listing()
        return {"resourceTemplates": self._visible_listings(token, "templates")}

    async def read_resource(self, token: AccessToken, request_id: object, params: Any) -> bytes:
        uri = params.get("uri") if isinstance(params, dict) else None
        if not isinstance(uri, str):
            raise RPCError(INVALID_PARAMS, "resources/read needs params.uri (a string)")
        route = self._resources.get(uri) or self._template_route(uri)
        if route is None:
            route = await self._find("_resources", uri, "resource")
        return await self._forward(
            token, request_id, "resources/read", params, route, f"resources/read {uri}"
        )

    # -- internals -----------------------------------------------------------------------------

    def _visible_listings(self, token: AccessToken, kind: str) -> list[dict[str, Any]]:
        return [
            route.listing
            for up in self._refresher.listed()
            for route in getattr(self._catalogs[up.name], kind)
            if self.policy.satisfies(token.scopes, route.needed)
        ]

    def _template_route(self, uri: str) -> Route | None:
        best: Route | None = None
        for up in self.upstreams:
            catalog = self._catalogs.get(up.name)
            for route in catalog.templates if catalog else ():
                literal = route.name.split("{", 1)[0]
                longer = best is None or len(literal) > len(best.name.split("{", 1)[0])
                if literal and uri.startswith(literal) and longer:
                    best = route
        return best

    async def _forward(
        self,
        token: AccessToken,
        request_id: object,
        method: str,
        params: Mapping[str, Any],
        route: Route,
        what: str,
    ) -> bytes:
        """Check the route's scopes, then send with the upstream's own tool or prompt name."""
        if route.needed and not self.policy.satisfies(token.scopes, route.needed):
            raise MissingScopeError(route.needed, what)
        forwarded = dict(params)
        if method != "resources/read":  # a resource URI is not prefixed
            forwarded["name"] = route.name
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": forwarded}
        return await self._send(route.upstream, message, token)

    async def _send(self, up: MCPUpstream, message: dict[str, Any], token: AccessToken) -> bytes:
        method = message["method"]
        stdio = up.config.stdio is not None  # no headers on a pipe
        extra = self.identity.head(token, up.config.url) if self.identity and not stdio else b""
        started = time.perf_counter()
        try:
            reply = await up.forward(message, extra)
        except UpstreamError as exc:
            self.metrics.upstream_error(up.name, exc.kind)
            self.metrics.upstream_up[up.name] = exc.kind != "unavailable"
            code = UPSTREAM_UNAVAILABLE if exc.kind == "unavailable" else UPSTREAM_FAILED
            log.warning("upstream %s failed for %s: %s", up.name, method, exc.reason)
            raise RPCError(
                code, f"upstream {up.name!r} {exc.kind}: {exc.reason}", {"upstream": up.name}
            ) from None
        self.metrics.upstream(up.name, method, time.perf_counter() - started)
        self.metrics.upstream_up[up.name] = True
        return reply

    async def _find(self, table_name: str, name: str, what: str) -> Route:
        """An unknown name: refresh (rate-limited) the catalogs that may hold it, then look."""
        candidates = [
            up for up in self.upstreams if what == "resource" or name.startswith(up.config.prefix)
        ]
        await self._refresher.for_name(candidates, self._every)  # joins a refresh in flight
        table: dict[str, Route] = getattr(self, table_name)  # rebuilt by the refresh
        route = table.get(name) or (self._template_route(name) if what == "resource" else None)
        if route is None:
            down = [up.name for up in candidates if not up.healthy]
            if len(down) == 1 and len(candidates) == 1:
                raise RPCError(
                    UPSTREAM_UNAVAILABLE,
                    f"upstream {down[0]!r} unavailable: {candidates[0].last_error}",
                    {"upstream": down[0]},
                )
            raise RPCError(INVALID_PARAMS, f"Unknown {what}: {name}")
        return route

    def _every(self, up: MCPUpstream) -> float:
        """How often an unknown name may trigger a catalog refresh of ``up``."""
        if up.healthy and up.name in self._catalogs:
            return _UNKNOWN_NAME_REFRESH
        return RETRY_DOWN

    def has_catalog(self, name: str) -> bool:
        return name in self._catalogs

    def refreshing(self) -> list[str]:
        """Upstreams whose catalog refresh is in flight (tests, operations)."""
        return self._refresher.refreshing()

    async def refresh_all(self) -> None:
        await self._refresher.all()

    def _rebuild(self) -> None:
        tools: dict[str, Route] = {}
        prompts: dict[str, Route] = {}
        resources: dict[str, Route] = {}
        for up in self.upstreams:
            catalog = self._catalogs.get(up.name)
            if catalog is None:
                continue
            for route in catalog.tools:
                tools.setdefault(route.listing["name"], route)
            for route in catalog.prompts:
                prompts.setdefault(route.listing["name"], route)
            for route in catalog.resources:
                if route.name in resources:
                    log.warning(
                        "resource %s offered by two upstreams; %s wins",
                        route.name,
                        resources[route.name].upstream.name,
                    )
                resources.setdefault(route.name, route)
        self._tools, self._prompts, self._resources = tools, prompts, resources
        self._version += 1
        self._visible.clear()

    async def aclose(self) -> None:
        await self._refresher.aclose()  # background refreshes are cancelled, then awaited
        await asyncio.gather(*(up.aclose() for up in self.upstreams), return_exceptions=True)
