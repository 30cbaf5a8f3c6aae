"""Protect a ``fastmcp`` (4.x) server.

``protect(server, verifier=..., resource=..., authorization_servers=[...])`` returns one ASGI app:
FastMCP's streamable-HTTP app behind :class:`~zeroauth.server.BearerAuth`, which also
serves the RFC 9728 document (S-01, S-08). Per-tool scopes (S-15..S-17) are declared with
:func:`~zeroauth.server._scopes.requires_scopes` on the tool function (or ``tool_scopes=``) and
enforced by the middleware as HTTP 403 before FastMCP runs; unlike FastMCP's own ``auth=`` checks,
a missing scope is never a 401 and never a tool error. A FastMCP middleware filters
``tools/list`` to the tools the caller may call when asked (``hide_tools=True``; by default every
tool is listed and the 403 drives step-up) and makes
:func:`~zeroauth.server._middleware.current_token` right inside every handler.

The scopes checked are those of exactly the component FastMCP runs (threat B15): the version a
call selects with ``params._meta.fastmcp.version`` (read by FastMCP's own
``extract_version_spec``) and a hashed backend name (``<hash>_<name>`` of an app tool) are
resolved with the lookups ``FastMCP.call_tool`` itself makes (:func:`resolve_tool`). FastMCP
resolves a tool through its providers and transforms (~0.2 ms), so the HTTP layer caches the
scopes per name and canonical version for ``tool_cache_ttl`` seconds (unknown names never). Its
view can still differ from what runs (a tool added at run time, per-session transforms), so
:class:`ZeroAuthMiddleware` checks again, inside FastMCP, the tool about to run: a shortfall there
is a JSON-RPC error (-32003) and the tool never runs (fail closed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from fastmcp.exceptions import NotFoundError
from fastmcp.server.dependencies import extract_version_spec, get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.server.middleware.authorization import _requested_version
from fastmcp.server.providers.addressing import parse_hashed_backend_name
from fastmcp.tools import Tool
from fastmcp.utilities.versions import VersionSpec
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams
from starlette.types import ASGIApp

from zeroauth.bridge import AuthorizationBridge
from zeroauth.integrations._common import verification
from zeroauth.server._dpop import DPoP
from zeroauth.server._middleware import TOKEN_SCOPE_KEY, BearerAuth, current_token_var
from zeroauth.server._scopes import ScopePolicy, ToolName, declared_scopes
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["ToolScopeCache", "ZeroAuthMiddleware", "protect", "resolve_tool", "wire_version"]

_MAX_CACHED = 4096
_FORBIDDEN = -32003  # JSON-RPC server-defined error, as in the mcp SDK integration


def wire_version(meta: object) -> VersionSpec | None:
    """The version FastMCP's ``tools/call`` handler selects from a call's ``params._meta``.

    FastMCP's own steps: ``_meta`` lifted only when it is an object, then its public
    ``extract_version_spec`` (a ``fastmcp.version`` string), an empty string meaning none. Any
    other shape (a number, an object, a list) selects the highest version, as in FastMCP.
    """
    version = extract_version_spec(dict(meta) if isinstance(meta, Mapping) else None)
    return VersionSpec(eq=version) if version else None


async def resolve_tool(server: Any, name: str, version: VersionSpec | None) -> Any | None:
    """The tool ``FastMCP.call_tool`` runs for ``name``: the same two lookups, in its order.

    The display-name lookup with the version first, then, for a ``<hash>_<name>`` address, the
    app tool with that identity hash (which, as in FastMCP, ignores the version).
    """
    tool = await server.get_tool(name, version=version)
    if tool is None:
        hashed = parse_hashed_backend_name(name)
        if hashed is not None:
            tool = await server.get_tool_by_hash(*hashed)
    return tool


class ToolScopeCache:
    """Async tool resolver for a FastMCP server: ``name -> declared scopes``, cached with a TTL.

    A :class:`~zeroauth.server._scopes.ToolName` (what the HTTP layer reads from a body) carries
    its call's ``_meta``: the version it selects is resolved too (threat B15). Entries are
    keyed by name and version; a version is cached only in the tool's own spelling (FastMCP
    also matches ``v1``, ``1.0``...), so the cache holds at most one entry per real version.
    """

    def __init__(self, server: Any, *, ttl: float = 60.0) -> None:
        self._server = server
        self._ttl = ttl
        self._cache: dict[tuple[str, str | None], tuple[float, tuple[str, ...] | None]] = {}

    async def __call__(self, name: str) -> tuple[str, ...] | None:
        version = wire_version(name.meta) if isinstance(name, ToolName) else None
        key = (str(name), version.eq if version else None)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        tool = await resolve_tool(self._server, key[0], version)
        if tool is None:
            return None
        scopes = declared_scopes(tool)
        if version is None or getattr(tool, "version", None) == key[1]:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (now + self._ttl, scopes)
        return scopes


def _declared_scopes(server: Any) -> list[str]:
    """The scopes :func:`requires_scopes` markers declare on the tools of the server's own
    (local) provider now; mounted servers and transforms are not walked (their tools are still
    checked per call: this only feeds the default ``scopes_supported``)."""
    components = getattr(getattr(server, "local_provider", None), "_components", None)
    if not isinstance(components, Mapping):
        return []
    tools = [c for c in components.values() if isinstance(c, Tool)]
    return [scope for tool in tools for scope in declared_scopes(tool) or ()]


def _token() -> AccessToken | None:
    try:
        token = get_http_request().scope.get(TOKEN_SCOPE_KEY)
    except RuntimeError:  # no HTTP request (in-process client, stdio)
        return None
    return token if isinstance(token, AccessToken) else None


class ZeroAuthMiddleware(Middleware):
    """FastMCP middleware: token context for handlers, a filtered ``tools/list``, and the
    execution-layer check of every ``tools/call`` (threat B15).

    It overrides ``__call__`` (FastMCP's documented form, run once per message) rather than
    the ``on_request``/``on_list_tools`` hooks: the base class builds a chain of three hook
    wrappers per message, which costs more than the work done here.
    """

    def __init__(self, policy: ScopePolicy) -> None:
        self.policy = policy

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        token = _token()
        reset = current_token_var.set(token)
        try:
            if isinstance(context.message, CallToolRequestParams) and self.policy.checks_tools:
                await self._check_call(context, token)
            result = await call_next(context)
            if (
                context.method == "tools/list"
                and self.policy.filter_tools_list
                and isinstance(result, Sequence)
                and not isinstance(result, str | bytes)
            ):
                return self._visible(result, token)
            return result
        finally:
            current_token_var.reset(reset)

    async def _check_call(
        self, context: MiddlewareContext[CallToolRequestParams], token: AccessToken | None
    ) -> None:
        """Refuse a call whose tool, as FastMCP will run it, needs scopes the token lacks.

        Only ``FastMCP.call_tool``'s own pass carries a ``CallToolRequestParams``; every tool
        runs through it. The root pass FastMCP makes for a ``tools/call`` that failed before
        (malformed params) carries the raw params and runs no tool: it passes through.

        ``FastMCP.call_tool`` puts the version it runs in the message's ``_meta`` (read back
        with FastMCP's own reader, which its ``AuthMiddleware`` uses) and runs the tool found by
        :func:`resolve_tool` in this same request context. An unknown tool is refused the way
        FastMCP refuses it. The token may have no scopes at all (no HTTP request, e.g. an
        in-process call): the check still applies, as with the mcp SDK integration.
        """
        name = context.message.name
        needed = self.policy.explicit_tool_scopes(name)
        if needed is None:
            found = context.fastmcp_context
            if found is None:  # FastMCP always gives one for tools/call; never guess
                raise MCPError(_FORBIDDEN, f"cannot check the scopes of tool {name!r}")
            version = _requested_version(context.message.meta)
            tool = await resolve_tool(found.fastmcp, name, version)
            if tool is None:
                raise NotFoundError(f"Unknown tool: {name!r}")
            needed = declared_scopes(tool) or ()
        granted = token.scopes if token else frozenset()
        if not self.policy.satisfies(granted, needed):
            # RFC 6750 §3.1 insufficient_scope, as a JSON-RPC error: the response is already
            # under way, so it cannot be an HTTP 403 here (the HTTP layer answers 403 before)
            raise MCPError(_FORBIDDEN, f"insufficient_scope: needs {' '.join(needed)}")

    def _visible(self, tools: Sequence[Any], token: AccessToken | None) -> list[Any]:
        """The tools (FastMCP ``Tool`` objects) the token's scopes allow calling."""
        granted = token.scopes if token else frozenset()
        kept = []
        for tool in tools:
            needed = self.policy.explicit_tool_scopes(tool.name)
            if needed is None:
                needed = declared_scopes(tool) or ()
            if self.policy.satisfies(granted, needed):
                kept.append(tool)
        return kept


def protect(
    server: Any,
    *,
    verifier: TokenVerifier | None = None,
    resource: str,
    authorization_servers: Sequence[str] | None = None,
    scopes_supported: Sequence[str] | None = None,
    required_scopes: Sequence[str] = (),
    hierarchy: Mapping[str, Sequence[str]] | None = None,
    tool_scopes: Mapping[str, Sequence[str]] | None = None,
    scope_policy: ScopePolicy | None = None,
    resource_name: str | None = None,
    path: str | None = None,
    dpop: DPoP | None = None,
    hide_tools: bool | None = None,
    bridge: AuthorizationBridge | None = None,
    tool_cache_ttl: float = 60.0,
    cors_origins: Sequence[str] | None = None,
    **http_app_options: Any,
) -> ASGIApp:
    """An ASGI app serving ``server`` over streamable HTTP at ``resource``, protected.

    ``path`` defaults to the path of ``resource``; ``dpop=DPoP(...)`` accepts (or requires)
    DPoP-bound tokens (RFC 9449); ``hide_tools=True`` lists only the tools the caller may call
    (default: every tool is listed and a call beyond the token's scopes gets 403 with ``scope=``,
    the step-up signal; unset, ``scope_policy``'s own ``filter_tools_list`` decides);
    ``bridge=AuthorizationBridge(...)`` serves the bridge from the same app (one process: the
    protected resource metadata names it, its tokens are verified with its keys in process;
    ``verifier`` and ``authorization_servers`` then default to the bridge's);
    ``cors_origins``: browser origins allowed to call (see :class:`BearerAuth`);
    ``http_app_options`` go to FastMCP's
    ``http_app`` (``stateless_http``, ``json_response``, ``allowed_origins``...). The server
    must not have its own ``auth=`` provider (two authorization layers would disagree).
    Every option composes: ``required_scopes``/``hierarchy``/``tool_scopes`` are added to
    ``scope_policy``'s. ``scopes_supported`` defaults to every scope named by the policy and by
    :func:`requires_scopes` markers on the server's own tools registered so far (S-05).
    """
    if getattr(server, "auth", None) is not None:
        raise ValueError("the FastMCP server already has auth=...; remove it to use zeroauth")
    verifier, authorization_servers = verification(
        resource, verifier, authorization_servers, bridge
    )
    policy = (scope_policy or ScopePolicy()).merged(
        required=required_scopes, hierarchy=hierarchy, tools=tool_scopes,
        filter_tools_list=hide_tools,
    )  # fmt: skip
    if policy.tool_resolver is None:
        policy = policy.with_resolver(ToolScopeCache(server, ttl=tool_cache_ttl))
    mcp_path = path or urlsplit(resource).path or "/"
    hooks = server.middleware
    hooks[:] = [hook for hook in hooks if not isinstance(hook, ZeroAuthMiddleware)]
    hooks.insert(0, ZeroAuthMiddleware(policy))
    app = server.http_app(path=mcp_path, **http_app_options)
    protected = BearerAuth(
        app,
        verifier=verifier,
        resource=resource,
        authorization_servers=authorization_servers,
        scopes_supported=(
            policy.scopes(_declared_scopes(server))
            if scopes_supported is None
            else scopes_supported
        ),
        scope_policy=policy,
        resource_name=resource_name,
        mcp_path=mcp_path,
        dpop=dpop,
        cors_origins=cors_origins,
    )
    return protected if bridge is None else bridge.together(protected)
