"""PYTEST_DONT_REWRITE (CPython 3.11.7 raises "AST constructor recursion depth mismatch" on
this module's rewritten asserts, gh-106905; plain asserts are used).

Gateway replicas share nothing (fleet issue): three ``GatewayApp`` replicas behind a small
round-robin load balancer on loopback serve one caller's consecutive requests — listing, calls,
a 403 step-up challenge — from whichever replica gets them, because the caller-facing endpoint
is stateless (no ``Mcp-Session-Id``; every request carries its token). Each replica keeps its
own upstream session; the upstream sees no caller credential from any of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.balancer import RoundRobin
from tests.helpers.gateway import HEADERS, call, config_for, token, verifier
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.gateway import GatewayApp

pytestmark = pytest.mark.anyio


def upstream_app(seen: list[str | None]) -> Any:
    """A stateless official-SDK MCP server with one read tool; records each Authorization."""
    server = MCPServer("fake", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def echo(n: int = 0) -> str:
        """Echo n."""
        return f'{{"n": {n}}}'

    app = server.streamable_http_app(stateless_http=True, json_response=True)

    async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(dict(scope["headers"]).get(b"authorization"))  # type: ignore[arg-type]
        await app(scope, receive, send)

    return recorded


@asynccontextmanager
async def fleet(upstream: str) -> AsyncIterator[tuple[str, RoundRobin]]:
    lb_sock = bind_loopback()
    public = f"http://127.0.0.1:{lb_sock.getsockname()[1]}/mcp"  # the resource clients use
    async with AsyncExitStack() as stack:
        replicas = []
        for _ in range(3):
            app = GatewayApp(config_for(public, {"fake": upstream}), verifier=verifier(public),
                             drain=0.1)  # fmt: skip
            served = await stack.enter_async_context(serve_asgi_async(app))
            replicas.append(served.base_url)
        balancer = RoundRobin(replicas)
        stack.push_async_callback(balancer.aclose)
        await stack.enter_async_context(serve_socket(balancer, lb_sock))
        yield public, balancer


async def test_any_replica_serves_any_request_of_one_caller() -> None:
    seen: list[str | None] = []
    async with serve_asgi_async(upstream_app(seen)) as up, fleet(up.url("/mcp")) as pair:
        public, balancer = pair
        reader = {"Authorization": f"Bearer {token(public, 'mcp:fake:read')}"}
        async with httpx2.AsyncClient(timeout=30, headers={**HEADERS, **reader}) as http:
            lists = [{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(3)]
            listed = []
            for body in lists:
                listed.append(await http.post(public, json=body))
            calls = []
            for i in range(9):
                calls.append(await http.post(public, json=call("fake_echo", {"n": i}, rid=i)))
        catalogs = {tuple(t["name"] for t in r.json()["result"]["tools"]) for r in listed}
        assert catalogs == {("fake_echo",)}  # the same catalog from every replica
        texts = [r.json()["result"]["content"][0]["text"] for r in calls]
        assert texts == [f'{{"n": {i}}}' for i in range(9)]
        assert sorted(balancer.served.values()) == [4, 4, 4]  # every replica served
        assert seen  # the replicas reached the upstream...
        assert all(a is None for a in seen)  # ...with no caller credential (B11, G-16)


async def test_a_step_up_challenge_is_the_same_from_every_replica() -> None:
    async with serve_asgi_async(upstream_app([])) as up, fleet(up.url("/mcp")) as pair:
        public = pair[0]
        nothing = {"Authorization": f"Bearer {token(public, 'openid')}"}
        async with httpx2.AsyncClient(timeout=30, headers={**HEADERS, **nothing}) as http:
            answers = []
            for _ in range(3):
                answers.append(await http.post(public, json=call("fake_echo")))
        challenges = set()
        for answer in answers:
            assert answer.status_code == 403
            parsed = read_bearer_challenge(answer.headers["www-authenticate"])
            assert parsed is not None
            challenges.add((parsed.error, parsed.scope, parsed.resource_metadata))
        assert len(challenges) == 1  # S-15: identical whichever replica answered
