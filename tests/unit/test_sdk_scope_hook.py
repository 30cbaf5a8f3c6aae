"""The official-SDK hook's tool re-check (S-15) and the HTTP layer's record of what it checked.

``BearerAuth`` records ``(policy, tool names)`` under ``TOOLS_CHECKED_KEY`` once the token passed
the per-tool check; ``ZeroAuthServerMiddleware`` then skips resolving those tools again, but still
checks any tool the record does not cover under its own policy (the hook alone is a defence).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from zeroauth.integrations.mcp_sdk import ZeroAuthServerMiddleware, tool_resolver
from zeroauth.server._middleware import TOKEN_SCOPE_KEY, TOOLS_CHECKED_KEY, BearerAuth
from zeroauth.server._scopes import ScopePolicy, requires_scopes
from zeroauth.server._verifier import AccessToken


def _server() -> MCPServer:
    server = MCPServer("hook")

    @server.tool()
    @requires_scopes("files:write")
    def write(text: str) -> str:
        return text

    @server.tool()
    def read() -> str:
        return "x"

    return server


def _token(*scopes: str) -> AccessToken:
    return AccessToken(
        issuer="https://as.example",
        subject="alice",
        client_id="c",
        audience=("https://rs.example/mcp",),
        scopes=frozenset(scopes),
        expires_at=None,
    )


def _ctx(name: str, scope: dict[str, Any]) -> Any:
    return SimpleNamespace(
        request=SimpleNamespace(scope=scope), method="tools/call", params={"name": name}
    )


async def _next(ctx: Any) -> dict[str, Any]:
    return {"content": []}


@pytest.mark.anyio
async def test_s15_hook_alone_refuses_a_tool_the_token_may_not_call() -> None:
    policy = ScopePolicy(tool_resolver=tool_resolver(_server()))
    hook = ZeroAuthServerMiddleware(policy)
    with pytest.raises(MCPError, match="insufficient_scope: needs files:write"):
        await hook(_ctx("write", {TOKEN_SCOPE_KEY: _token("mcp:tools")}), _next)
    assert await hook(_ctx("write", {TOKEN_SCOPE_KEY: _token("files:write")}), _next)
    assert await hook(_ctx("read", {TOKEN_SCOPE_KEY: _token()}), _next)


@pytest.mark.anyio
async def test_s15_hook_trusts_only_its_own_policys_record_of_the_same_tool() -> None:
    policy = ScopePolicy(tool_resolver=tool_resolver(_server()))
    hook = ZeroAuthServerMiddleware(policy)
    token = _token("mcp:tools")
    checked = {TOKEN_SCOPE_KEY: token, TOOLS_CHECKED_KEY: (policy, ["write"])}
    assert await hook(_ctx("write", checked), _next)  # the HTTP layer checked this call
    other = ScopePolicy(tool_resolver=tool_resolver(_server()))
    for record in [(other, ["write"]), (policy, ["read"]), ["write"], None]:
        with pytest.raises(MCPError, match="insufficient_scope"):
            await hook(_ctx("write", {TOKEN_SCOPE_KEY: token, TOOLS_CHECKED_KEY: record}), _next)


async def _post(
    policy: ScopePolicy, body: bytes, scopes: tuple[str, ...]
) -> tuple[int, dict[str, Any]]:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        message = await receive()
        assert message == {"type": "http.request", "body": body, "more_body": False}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    class Verifier:
        async def verify(self, token: str) -> AccessToken:
            return _token(*scopes)

    app = BearerAuth(
        inner,
        verifier=Verifier(),
        resource="https://rs.example/mcp",
        authorization_servers=["https://as.example"],
        scope_policy=policy,
    )
    chunks = [body[:10], body[10:]]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer abc")],
    }
    await app(scope, receive, send)
    return sent[0]["status"], seen


@pytest.mark.anyio
async def test_s15_bearer_auth_records_the_tools_it_let_through() -> None:
    policy = ScopePolicy(tool_resolver=tool_resolver(_server()))
    call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write"}}'
    status, seen = await _post(policy, call, ("files:write",))
    assert status == 200
    assert seen[TOOLS_CHECKED_KEY] == (policy, ["write"])
    status, seen = await _post(policy, call, ("mcp:tools",))
    assert status == 403
    assert seen == {}
    status, seen = await _post(policy, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', ())
    assert status == 200
    assert TOOLS_CHECKED_KEY not in seen
