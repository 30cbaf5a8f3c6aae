"""tools/list and step-up (S-15, C-39): by default every tool is listed, so a client that calls
only what it was shown (a UI such as the MCP Inspector) can reach a tool beyond its token's
scopes, get ``403 insufficient_scope`` with ``scope=``, step up and succeed; ``hide_tools=True``
lists only what the token allows. On the official SDK and on FastMCP, with the dev AS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from zeroauth.client import HeadlessUserStep, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server import JWTVerifier, requires_scopes

pytestmark = pytest.mark.anyio
READ, WRITE = "notes:read", "notes:write"


def _sdk_server() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("notes", log_level="WARNING")

    @server.tool()
    @requires_scopes(READ)
    def list_notes() -> str:
        """List."""
        return "n1"

    @server.tool()
    @requires_scopes(WRITE)
    def add_note(text: str) -> str:
        """Add."""
        return f"added {text}"

    return server


def _fastmcp_server() -> Any:
    from fastmcp import FastMCP

    server = FastMCP("notes")

    @server.tool
    @requires_scopes(READ)
    def list_notes() -> str:
        return "n1"

    @server.tool
    @requires_scopes(WRITE)
    def add_note(text: str) -> str:
        return f"added {text}"

    return server


@asynccontextmanager
async def stack(kind: str, *, hide_tools: bool) -> AsyncIterator[str]:
    from zeroauth.integrations import fastmcp as zfastmcp
    from zeroauth.integrations import mcp_sdk as zmcp

    as_sock, mcp_sock = bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    url = f"http://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    config = DevServerConfig(
        issuer=issuer, resources=[ProtectedResource(url, (READ, WRITE))], auto_approve=True
    )
    options: dict[str, Any] = {
        "verifier": JWTVerifier(issuer=issuer, resource=url, jwks_uri=f"{issuer}/jwks"),
        "resource": url, "authorization_servers": [issuer], "scopes_supported": [READ],
        "required_scopes": [READ], "hide_tools": hide_tools,
        "stateless_http": True, "json_response": True,
    }  # fmt: skip
    app = (zmcp.protect(_sdk_server(), **options) if kind == "sdk"
           else zfastmcp.protect(_fastmcp_server(), **options))  # fmt: skip
    async with AsyncExitStack() as es:
        await es.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
        await es.enter_async_context(serve_socket(app, mcp_sock))
        yield url


@asynccontextmanager
async def session(url: str, seen: list[int]) -> AsyncIterator[Any]:
    auth = ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))

    async def record(response: httpx2.Response) -> None:
        seen.append(response.status_code)

    async with (
        httpx2.AsyncClient(auth=auth, timeout=30, event_hooks={"response": [record]}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


@pytest.mark.parametrize("kind", ["sdk", "fastmcp"])
async def test_s15_c39_a_listed_tool_beyond_the_token_steps_up_from_the_listing(kind: str) -> None:
    async with stack(kind, hide_tools=False) as url:
        seen: list[int] = []
        async with session(url, seen) as client:
            listed = sorted(t.name for t in (await client.list_tools()).tools)
            assert listed == ["add_note", "list_notes"]  # shown, though the token is read-only
            for name in listed:  # a UI client calls what it was shown
                args = {"text": "x"} if name == "add_note" else {}
                result = await client.call_tool(name, args)
                assert not result.is_error, result
        assert 403 in seen  # add_note met insufficient_scope with scope=, and the client stepped up


@pytest.mark.parametrize("kind", ["sdk", "fastmcp"])
async def test_hide_tools_lists_only_what_the_token_allows(kind: str) -> None:
    async with stack(kind, hide_tools=True) as url:
        async with session(url, []) as client:
            listed = [t.name for t in (await client.list_tools()).tools]
        assert listed == ["list_notes"]
