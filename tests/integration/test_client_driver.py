"""The driver under a failing request: the speculative PRM fetch never outlives its run.

SECURITY A8 (bounded time; nothing left running): the first token-less request overlaps the
well-known PRM fetch (an asyncio task). When the caller's request fails, e.g. its own read
timeout, httpx closes the auth flow; the fetch must be cancelled and awaited then, not left
running against the run's HTTP client, which is closed at the same moment. Real loopback
server whose MCP endpoint and PRM both hang until the test releases them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.client import MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

# the speculative fetch has a non-asyncio path (asyncio and trio)
pytestmark = pytest.mark.all_backends


@pytest.fixture
def hanging() -> Iterator[tuple[ServedApp, list[str]]]:
    release = threading.Event()
    started: list[str] = []

    async def hang(request: Request) -> JSONResponse:
        started.append(request.url.path)
        while not release.is_set():
            await anyio.sleep(0.02)
        return JSONResponse({}, status_code=404)

    app = Starlette(
        routes=[
            Route("/mcp", hang, methods=["POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", hang),
        ]
    )
    with serve_asgi(app) as served:
        try:
            yield served, started
        finally:
            release.set()


def _fetch_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "fetch_all_async" in repr(t.get_coro())]


@pytest.mark.anyio
async def test_a8_speculative_prm_fetch_is_cancelled_when_the_request_fails(
    hanging: tuple[ServedApp, list[str]], anyio_backend: str
) -> None:
    served, started = hanging
    auth = ZeroAuth(url_policy=DEVELOPMENT, store=MemoryTokenStore())
    async with httpx2.AsyncClient(auth=auth, timeout=0.5) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(served.url("/mcp"), json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        if anyio_backend == "asyncio":
            assert "/.well-known/oauth-protected-resource/mcp" in started  # it did overlap
            assert _fetch_tasks() == []  # cancelled and awaited: no orphan
        else:  # other libraries: no task; the fetch would follow the response, which failed
            assert started == ["/mcp"]
