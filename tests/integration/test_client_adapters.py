"""The four adapters over the one flow: httpx2 and httpx, sync and async (DESIGN: "one flow,
every transport"), and what they must not do: serialise requests (a stream in flight never
blocks another request's refresh) or lose the request body on the retry after a 401."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from starlette.responses import StreamingResponse

from tests.helpers.client_world import PING, scripted
from zeroauth.client import ZeroAuthHttpx

# the client engine's locks run under any async library (asyncio and trio)
pytestmark = pytest.mark.all_backends


def test_httpx2_sync() -> None:
    with scripted() as s, httpx2.Client(auth=s.client()) as http:
        assert http.post(s.server_url, json=PING).status_code == 200


@pytest.mark.anyio
async def test_httpx2_async() -> None:
    with scripted() as s:
        async with httpx2.AsyncClient(auth=s.client()) as http:
            assert (await http.post(s.server_url, json=PING)).status_code == 200


def test_httpx_sync_adapter() -> None:
    with scripted() as s:
        auth = s.client()
        with httpx.Client(auth=ZeroAuthHttpx(engine=auth.engine)) as http:
            response = http.post(s.server_url, json=PING)
        assert response.status_code == 200
        assert isinstance(ZeroAuthHttpx(engine=auth.engine), httpx.Auth)


@pytest.mark.anyio
async def test_httpx_async_adapter_shares_state_with_httpx2() -> None:
    with scripted() as s:
        auth = s.client()
        async with httpx.AsyncClient(auth=ZeroAuthHttpx(engine=auth.engine)) as http:
            assert (await http.post(s.server_url, json=PING)).status_code == 200
        s.recorder.clear()
        async with httpx2.AsyncClient(auth=auth) as http2:
            assert (await http2.post(s.server_url, json=PING)).status_code == 200
        assert len(s.recorder.seen) == 1  # the token obtained through httpx is reused


def test_request_body_is_resent_intact_after_the_401() -> None:
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"x": "y" * 5000}}
    with scripted() as s, httpx2.Client(auth=s.client()) as http:
        http.post(s.server_url, content=json.dumps(body).encode(),
                  headers={"content-type": "application/json"})  # fmt: skip
    posts = s.recorder.where(server="mcp", path="/mcp", method="POST")
    assert len(posts) == 2
    assert posts[0].body == posts[1].body == json.dumps(body).encode()
    assert "authorization" not in posts[0].headers
    assert posts[1].headers["authorization"].startswith("Bearer ")


@pytest.mark.anyio
async def test_locks_never_guard_a_request_a_stream_in_flight_does_not_block_a_refresh() -> None:
    """A long response stream is open with the old token while another request's token is
    refreshed: the refresh completes and its request succeeds while the stream still flows."""
    with scripted() as s:
        original = s.mcp.app()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/stream":

                async def events() -> Any:
                    for i in range(30):
                        yield f"data: {i}\n\n".encode()
                        await anyio.sleep(0.1)

                await StreamingResponse(events(), media_type="text/event-stream")(
                    scope, receive, send
                )
                return
            await original(scope, receive, send)

        s.lazies["mcp"].inner = s.recorder.wrap("mcp", app)
        auth = s.client()
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            assert (await http.post(s.server_url, json=PING)).status_code == 200
            s.auth.tokens.clear()  # the next MCP request gets a 401 -> refresh
            finished: dict[str, float] = {}

            async def stream() -> None:
                async with http.stream("GET", s.mcp.base + "/stream") as response:
                    async for _ in response.aiter_bytes():
                        pass
                finished["stream"] = time.monotonic()

            async def call() -> None:
                await anyio.sleep(0.3)  # the stream is flowing by now
                assert (await http.post(s.server_url, json=PING)).status_code == 200
                finished["call"] = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(stream)
                tg.start_soon(call)
        assert finished["call"] < finished["stream"] - 1.0
