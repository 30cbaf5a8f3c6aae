"""Protect a ``fastmcp`` (4.x) server.

``protect(server, verifier=..., resource=..., authorization_servers=[...])`` returns one ASGI app:
FastMCP's streamable-HTTP app behind :class:`~zeroauth.server.middleware.BearerAuth`, which also
serves the RFC 9728 document (S-01, S-08). Per-tool scopes (S-15..S-17) are declared with
:func:`~zeroauth.server.scopes.requires_scopes` on the tool function (or ``tool_scopes=``) and
enforced by the middleware as HTTP 403 before FastMCP runs; unlike FastMCP's own ``auth=`` checks,
a missing scope is never a 401 and never a tool error. A FastMCP middleware filters
``tools/list`` to the tools the caller may call and makes
:func:`~zeroauth.server.middleware.current_token` right inside every handler.

FastMCP resolves a tool name through its providers and transforms (~0.2 ms), so the scopes a
tool declares are cached per name for ``tool_cache_ttl`` seconds (unknown names are never
cached). Declare scopes before serving; a tool replaced at run time with different scopes takes
effect after at most ``tool_cache_ttl``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from starlette.types import ASGIApp

from zeroauth.server.middleware import TOKEN_SCOPE_KEY, BearerAuth, current_token_var
from zeroauth.server.scopes import ScopePolicy, declared_scopes
from zeroauth.server.verifier import AccessToken, TokenVerifier

__all__ = ["ToolScopeCache", "ZeroAuthMiddleware", "protect"]

_MAX_CACHED = 4096


class ToolScopeCache:
    """Async tool resolver for a FastMCP server: ``name -> declared scopes``, cached with a TTL."""

    def __init__(self, server: Any, *, ttl: float = 60.0) -> None:
        self._server = server
        self._ttl = ttl
        self._cache: dict[str, tuple[float, tuple[str, ...] | None]] = {}

    async def __call__(self, name: str) -> tuple[str, ...] | None:
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        tool = await self._server.get_tool(name)
        if tool is None:
            return None
        scopes = declared_scopes(tool)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[name] = (now + self._ttl, scopes)
        return scopes


def _token() -> AccessToken | None:
    try:
        token = get_http_request().scope.get(TOKEN_SCOPE_KEY)
    except RuntimeError:  # no HTTP request (in-process client, stdio)
        return None
    return token if isinstance(token, AccessToken) else None


class ZeroAuthMiddleware(Middleware):
    """FastMCP middleware: token context for handlers and a filtered ``tools/list``.

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
    verifier: TokenVerifier,
    resource: str,
    authorization_servers: Sequence[str],
    scopes_supported: Sequence[str] | None = None,
    required_scopes: Sequence[str] = (),
    hierarchy: Mapping[str, Sequence[str]] | None = None,
    tool_scopes: Mapping[str, Sequence[str]] | None = None,
    scope_policy: ScopePolicy | None = None,
    resource_name: str | None = None,
    path: str | None = None,
    tool_cache_ttl: float = 60.0,
    **http_app_options: Any,
) -> ASGIApp:
    """An ASGI app serving ``server`` over streamable HTTP at ``resource``, protected.

    ``path`` defaults to the path of ``resource``; ``http_app_options`` go to FastMCP's
    ``http_app`` (``stateless_http``, ``json_response``, ``allowed_origins``...). The server
    must not have its own ``auth=`` provider (two authorization layers would disagree).
    """
    if getattr(server, "auth", None) is not None:
        raise ValueError("the FastMCP server already has auth=...; remove it to use zeroauth")
    if scope_policy is not None and (required_scopes or hierarchy or tool_scopes):
        raise ValueError("give scope_policy or required_scopes/hierarchy/tool_scopes, not both")
    policy = scope_policy or ScopePolicy(
        required=required_scopes, hierarchy=hierarchy, tools=tool_scopes
    )
    if policy.tool_resolver is None:
        policy = policy.with_resolver(ToolScopeCache(server, ttl=tool_cache_ttl))
    mcp_path = path or urlsplit(resource).path or "/"
    hooks = server.middleware
    hooks[:] = [hook for hook in hooks if not isinstance(hook, ZeroAuthMiddleware)]
    hooks.insert(0, ZeroAuthMiddleware(policy))
    app = server.http_app(path=mcp_path, **http_app_options)
    return BearerAuth(
        app,
        verifier=verifier,
        resource=resource,
        authorization_servers=authorization_servers,
        scopes_supported=scopes_supported,
        scope_policy=policy,
        resource_name=resource_name,
        mcp_path=mcp_path,
    )
