"""SECURITY B16: a slow upstream never stalls other callers (stale-while-revalidate catalogs).

The real gateway on loopback (the static-JWKS setup of ``test_gateway_ops``) in front of two
real official-SDK MCP servers, one of which can be made slow to answer ``tools/list``. Once the
catalogs are stale, concurrent ``tools/list`` callers get the last good catalog at once, exactly
one refresh reaches the slow upstream, and the new catalog is served after it completes. A
first-ever listing waits a bounded time for an upstream without a catalog, then lists without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.gateway import gateway_for
from zeroauth.gateway import parse_config
from zeroauth.gateway._aggregate import Aggregator
from zeroauth.gateway._upstream import Upstream
from zeroauth.server._scopes import ScopePolicy
from zeroauth.server._verifier import AccessToken

pytestmark = pytest.mark.anyio
TTL = 0.5  # catalog_ttl: stale after half a second (stale catalogs are kept for 10 x TTL)
SLOW = 3.0  # seconds the slow upstream takes to answer tools/list
BOUND = 0.5  # what a caller may wait for tools/list while an upstream is slow
SCOPES = "mcp:slow:read mcp:slow:write mcp:fast:read mcp:fast:write"


def first(text: str) -> str:
    """The tool every listing has."""
    return text


def second(text: str) -> str:
    """A tool added after the first listing."""
    return text


class Lister:
    """A real MCP server (official SDK, stateless JSON) whose ``tools/list`` can be slowed."""

    def __init__(self, name: str) -> None:
        self.server = MCPServer(name, log_level="WARNING")
        self.server.add_tool(first, annotations=ToolAnnotations(readOnlyHint=True))
        self.inner = self.server.streamable_http_app(stateless_http=True, json_response=True)
        self.delay = 0.0
        self.release = asyncio.Event()  # ends a slow answer early (keeps the tests fast)
        self.lists = 0  # tools/list requests received
        self.answered = 0  # tools/list requests answered

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        body = json.loads(raw) if raw.startswith(b"{") else {}
        listing = body.get("method") == "tools/list"
        if listing:
            self.lists += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), self.delay)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return dict(await receive())
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.inner(scope, replay, send)
        if listing:
            self.answered += 1


async def names(http: Any, url: str) -> set[str]:
    reply = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    return {tool["name"] for tool in reply.json()["result"]["tools"]}


async def timed(http: Any, url: str) -> tuple[float, set[str]]:
    started = time.monotonic()
    found = await names(http, url)
    return time.monotonic() - started, found


async def until(check: Any, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_b16_stale_catalog_served_at_once_and_refreshed_once_in_the_background() -> None:
    slow, fast = Lister("slow"), Lister("fast")
    async with (
        serve_asgi_async(slow) as up1,
        serve_asgi_async(fast) as up2,
        gateway_for(
            {"slow": up1.url("/mcp"), "fast": up2.url("/mcp")}, SCOPES, catalog_ttl=TTL
        ) as (gw, gateway, http),
    ):
        url = gw.url("/mcp")
        assert await names(http, url) == {"slow_first", "fast_first"}
        app = gateway.aggregator
        await until(lambda: slow.lists == slow.answered)  # the warm-up is over too
        before = slow.lists
        slow.server.add_tool(second, annotations=ToolAnnotations(readOnlyHint=True))
        slow.delay = SLOW
        await asyncio.sleep(TTL + 0.1)  # both catalogs are stale now

        answers = await asyncio.gather(*(timed(http, url) for _ in range(8)))
        for elapsed, found in answers:
            assert elapsed < BOUND, f"tools/list waited {elapsed:.2f} s for a slow upstream"
            assert found == {"slow_first", "fast_first"}  # the last good catalog
        again, found = await timed(http, url)  # still refreshing: a later caller does not wait
        assert again < BOUND
        assert found == {"slow_first", "fast_first"}
        assert slow.lists == before + 1  # single flight: one refresh reached the slow upstream

        slow.release.set()  # the slow refresh completes now
        await until(lambda: slow.answered == before + 1)
        await until(lambda: app.refreshing() == [])  # the refresh adopts the new catalog
        assert await names(http, url) == {"slow_first", "slow_second", "fast_first"}
        assert slow.lists == before + 1


def aggregator_for(urls: dict[str, str], *, cold_wait: float) -> Aggregator:
    jwks = "https://idp.test.example/jwks"  # never fetched: no verifier is built here
    config = parse_config(
        {
            "gateway": {"resource": "http://127.0.0.1:9/mcp"},
            "issuer": [{"issuer": "https://idp.test.example", "jwks_uri": jwks}],
            "upstream": [{"name": name, "url": url} for name, url in urls.items()],
        }
    )
    upstreams = [Upstream(up) for up in config.upstreams]
    return Aggregator(upstreams, ScopePolicy(), catalog_ttl=60.0, cold_wait=cold_wait)


CALLER = AccessToken(
    issuer="https://idp.test.example",
    subject="alice",
    client_id="agent",
    audience=("http://127.0.0.1:9/mcp",),
    scopes=frozenset(SCOPES.split()),
    expires_at=None,
)


async def listed(agg: Aggregator) -> tuple[float, set[str]]:
    started = time.monotonic()
    tools = (await agg.list_tools(CALLER))["tools"]
    return time.monotonic() - started, {tool["name"] for tool in tools}


async def test_b16_first_listing_waits_a_bounded_time_then_lists_without_the_slow_one() -> None:
    slow, fast = Lister("slow"), Lister("fast")
    slow.delay = SLOW  # slow from the very first listing: no catalog to fall back on
    async with serve_asgi_async(slow) as up1, serve_asgi_async(fast) as up2:
        agg = aggregator_for({"slow": up1.url("/mcp"), "fast": up2.url("/mcp")}, cold_wait=0.3)
        try:
            elapsed, found = await listed(agg)
            assert found == {"fast_first"}
            assert elapsed < 0.3 + BOUND
            assert agg.metrics.upstream_up["slow"] is False  # marked unavailable meanwhile
            elapsed, found = await listed(agg)  # it already missed a listing: no second wait
            assert found == {"fast_first"}
            assert elapsed < BOUND
            assert slow.lists == 1  # one refresh in flight, shared by both listings
            slow.release.set()
            await until(lambda: slow.answered == 1)
            await until(lambda: agg.has_catalog("slow"))
            _, found = await listed(agg)
            assert found == {"slow_first", "fast_first"}
            assert agg.metrics.upstream_up["slow"] is True
        finally:
            await agg.aclose()


async def test_b16_shutdown_cancels_a_refresh_in_flight() -> None:
    slow = Lister("slow")
    slow.delay = 30.0
    async with serve_asgi_async(slow) as up:
        agg = aggregator_for({"slow": up.url("/mcp")}, cold_wait=0.1)
        elapsed, found = await listed(agg)
        assert found == set()
        assert elapsed < 0.1 + BOUND
        await until(lambda: slow.lists == 1)
        started = time.monotonic()
        await agg.aclose()  # the background refresh is owned: cancelled and awaited here
        assert time.monotonic() - started < BOUND
        assert not agg.refreshing()
        slow.release.set()
