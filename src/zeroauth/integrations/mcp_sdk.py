"""Protect an official ``mcp`` SDK server (2.x ``MCPServer``, or the low-level ``Server``).

``protect(server, verifier=..., resource=..., authorization_servers=[...])`` returns one ASGI app:
the SDK's streamable-HTTP app behind :class:`~zeroauth.server.BearerAuth`, which also
serves the RFC 9728 document (S-01, S-08). Per-tool scopes (S-15..S-17) are declared with
:func:`~zeroauth.server._scopes.requires_scopes` on the tool function (or ``tool_scopes=``) and
enforced by the middleware as HTTP 403 before the SDK runs. A context-tier SDK middleware (the
SDK's ``ServerMiddleware`` hook) filters ``tools/list`` to the tools the caller may call when
asked (``hide_tools=True``; by default every tool is listed and the 403 drives step-up), makes
:func:`~zeroauth.server._middleware.current_token` right inside every handler, and re-checks a
tool's scopes before it runs (a JSON-RPC error, only reachable when the HTTP check was bypassed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp

from zeroauth.bridge import AuthorizationBridge
from zeroauth.integrations._common import verification
from zeroauth.server._dpop import DPoP
from zeroauth.server._middleware import (
    TOKEN_SCOPE_KEY,
    TOOLS_CHECKED_KEY,
    BearerAuth,
    current_token_var,
)
from zeroauth.server._scopes import ScopePolicy, ToolResolver, declared_scopes
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["ZeroAuthServerMiddleware", "protect", "tool_resolver"]

_FORBIDDEN = -32003  # JSON-RPC server-defined error: the HTTP layer should have answered 403


def tool_resolver(server: Any) -> ToolResolver | None:
    """Reads :func:`requires_scopes` markers from an ``MCPServer``'s tool registry by name."""
    manager = getattr(server, "_tool_manager", None)
    get_tool = getattr(manager, "get_tool", None)
    if get_tool is None:
        return None

    async def resolve(name: str) -> tuple[str, ...] | None:
        tool = get_tool(name)
        return None if tool is None else declared_scopes(tool.fn)

    return resolve


def _declared_scopes(server: Any) -> list[str]:
    """The scopes :func:`requires_scopes` markers declare on the tools ``server`` has now."""
    list_tools = getattr(getattr(server, "_tool_manager", None), "list_tools", None)
    tools = list_tools() if list_tools is not None else ()
    return [scope for tool in tools for scope in declared_scopes(tool.fn) or ()]


class ZeroAuthServerMiddleware:
    """SDK context-tier middleware: token context, ``tools/list`` filter, tool re-check.

    The re-check is skipped for a tool that :class:`BearerAuth`, under this same policy, already
    checked for the HTTP request carrying the message (``TOOLS_CHECKED_KEY``); the hook alone
    (no HTTP check, or another policy) always checks.
    """

    def __init__(self, policy: ScopePolicy) -> None:
        self.policy = policy

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        scope = getattr(ctx.request, "scope", None)
        token: AccessToken | None = None
        checked: Any = None
        if isinstance(scope, dict):
            found = scope.get(TOKEN_SCOPE_KEY)
            if isinstance(found, AccessToken):
                token = found
            checked = scope.get(TOOLS_CHECKED_KEY)
        reset = current_token_var.set(token)
        try:
            method = ctx.method
            if method == "tools/call" and self.policy.checks_tools:
                name = ctx.params.get("name") if ctx.params else None
                if isinstance(name, str) and not (
                    type(checked) is tuple and checked[0] is self.policy and name in checked[1]
                ):
                    needed = await self.policy.tool_scopes(name)
                    granted = token.scopes if token else frozenset()
                    if needed and not self.policy.satisfies(granted, needed):
                        raise MCPError(_FORBIDDEN, f"insufficient_scope: needs {' '.join(needed)}")
            result = await call_next(ctx)
            if method == "tools/list" and self.policy.filter_tools_list:
                result = await self._filter(result, token)
            return result
        finally:
            current_token_var.reset(reset)

    async def _filter(self, result: HandlerResult, token: AccessToken | None) -> HandlerResult:
        if result is None:
            return result
        tools = result.get("tools") if isinstance(result, dict) else getattr(result, "tools", None)
        if not isinstance(tools, list):
            return result
        granted = token.scopes if token else frozenset()
        names = [t.get("name") if isinstance(t, dict) else getattr(t, "name", None) for t in tools]
        allowed = await self.policy.visible_tools(granted, [n for n in names if isinstance(n, str)])
        kept = [tool for tool, name in zip(tools, names, strict=True) if name in allowed]
        if len(kept) == len(tools):
            return result
        if isinstance(result, dict):
            return {**result, "tools": kept}
        update: dict[str, Any] = {"tools": kept}
        if "cache_scope" in type(result).model_fields:
            update["cache_scope"] = "private"  # a filtered list is per caller (SEP-2549)
        return result.model_copy(update=update)


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
    cors_origins: Sequence[str] | None = None,
    **app_options: Any,
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
    ``app_options`` go to the SDK's
    ``streamable_http_app`` (``stateless_http``, ``json_response``, ``transport_security``...).
    Every option composes: ``required_scopes``/``hierarchy``/``tool_scopes`` are added to
    ``scope_policy``'s. ``scopes_supported`` defaults to every scope named by the policy and by
    :func:`requires_scopes` markers on the tools registered so far (required ones first, S-05).
    """
    verifier, authorization_servers = verification(
        resource, verifier, authorization_servers, bridge
    )
    policy = (scope_policy or ScopePolicy()).merged(
        required=required_scopes, hierarchy=hierarchy, tools=tool_scopes,
        filter_tools_list=hide_tools,
    )  # fmt: skip
    if policy.tool_resolver is None:
        policy = policy.with_resolver(tool_resolver(server))
    mcp_path = path or urlsplit(resource).path or "/"
    hooks = server.middleware
    hooks[:] = [hook for hook in hooks if not isinstance(hook, ZeroAuthServerMiddleware)]
    hooks.append(ZeroAuthServerMiddleware(policy))
    app = server.streamable_http_app(streamable_http_path=mcp_path, **app_options)
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
