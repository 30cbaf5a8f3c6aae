"""``ZeroAuth.token(url)`` / ``atoken(url)``: a valid access token for one MCP server.

On the loopback world of tests/helpers/client_world.py (zeroauth's dev AS and a ``BearerAuth``
server): the first call probes the server without a token and its 401 starts discovery,
registration and authorization (MCP 2026-07-28 C-02, C-03); later calls return the stored token
without a request (C-46), an expiring token is refreshed first (C-48) and a server that asks for
no token is an S-10 error. Also the docs/client.md "Get a token in a script" example, run as
written.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.client_world import world
from tests.helpers.docs import named_examples, run_example
from zeroauth.core.errors import URLPolicyError, ZeroAuthError

# the client engine's locks run under any async library (asyncio and trio)
pytestmark = pytest.mark.all_backends

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def accepted(url: str, token: str) -> bool:
    response = httpx2.post(url, json=PING, headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def test_c02_first_token_starts_discovery_later_ones_send_nothing() -> None:
    with world() as w:
        auth = w.client()
        token = auth.token(w.server_url)
        probes = w.recorder.where(server="mcp", path="/mcp")
        assert [p.headers.get("authorization") for p in probes] == [None]  # one token-less probe
        assert w.recorder.where(server="as", path="/token")
        w.recorder.clear()
        assert auth.token(w.server_url) == token
        assert w.recorder.seen == []  # C-46: the stored token, no request at all
        assert accepted(w.server_url, token)
        assert auth.engine.user_steps == 1


@pytest.mark.anyio
async def test_c02_atoken_is_the_same_awaiting() -> None:
    with world() as w:
        auth = w.client()
        token = await auth.atoken(w.server_url)
        assert await auth.atoken(w.server_url) == token
        assert len(w.recorder.where(server="mcp", path="/mcp")) == 1  # the probe only
        assert accepted(w.server_url, token)


def test_c48_an_expiring_token_is_refreshed_without_contacting_the_server() -> None:
    ahead = [0.0]
    with world() as w:
        auth = w.client(clock=lambda: time.time() + ahead[0])
        first = auth.token(w.server_url)
        w.recorder.clear()
        ahead[0] = 3590.0  # the client's clock: the token is about to expire
        second = auth.token(w.server_url)
        assert second != first
        grants = [s.form()["grant_type"] for s in w.recorder.where(server="as", path="/token")]
        assert grants == ["refresh_token"]
        assert w.recorder.where(server="mcp") == []
        assert auth.engine.user_steps == 1


def test_s10_a_server_that_asks_for_no_token_is_an_error() -> None:
    async def open_mcp(request: Request) -> JSONResponse:
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

    app = Starlette(routes=[Route("/mcp", open_mcp, methods=["POST"])])
    with world() as w, serve_asgi(app) as server:
        with pytest.raises(ZeroAuthError, match="did not ask for authorization") as caught:
            w.client().token(server.url("/mcp"))
        assert caught.value.requirement == "S-10"


def test_sec05_the_server_url_passes_the_url_policy_first() -> None:
    from zeroauth.client import ZeroAuth

    with pytest.raises(URLPolicyError, match="server URL"):
        ZeroAuth().token("http://127.0.0.1:9/mcp")  # production policy: no http, no loopback


def test_docs_token_example_runs_as_written(tmp_path: Path) -> None:
    code = named_examples("docs/client.md").get("token")
    assert code is not None, "docs/client.md lost its <!-- example: token --> block"
    namespace = run_example(code, "docs/client.md")
    with world() as w:
        assert namespace["call_with_a_token"](w.server_url, str(tmp_path / "store")) == 200
