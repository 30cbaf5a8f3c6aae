"""Many servers at once (ZeroAuthManager): shared AS metadata, one registration per issuer,
tokens per (issuer, resource) — C-30, RFC 8707 — all on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from starlette.responses import JSONResponse

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.client_world import PING, Lazy, ScriptedAS
from tests.helpers.recorder import Recorder
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuthManager
from zeroauth.core.challenge import bearer_challenge_header
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.urls import DEVELOPMENT

# the client engine's locks run under any async library (asyncio and trio)
pytestmark = pytest.mark.all_backends


def fleet_app(base_url: str, auth: ScriptedAS, count: int) -> Any:
    """``count`` MCP servers at /mcp/<n>, each its own resource with its own PRM."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        prefix = "/.well-known/oauth-protected-resource"
        if path.startswith(prefix + "/mcp/"):
            resource = base_url + path[len(prefix) :]
            doc = {"resource": resource, "authorization_servers": [auth.issuer]}
            await JSONResponse(doc)(scope, receive, send)
            return
        if not path.startswith("/mcp/") or not path[5:].isdigit() or int(path[5:]) >= count:
            await JSONResponse({}, status_code=404)(scope, receive, send)
            return
        resource = base_url + path
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode()[7:]
        grant = auth.tokens.get(token)
        if grant is None or grant.get("resource") != resource:
            challenge = bearer_challenge_header(
                resource_metadata=f"{base_url}{prefix}{path}", scope=["mcp:read"]
            )
            response = JSONResponse({}, status_code=401, headers={"www-authenticate": challenge})
        else:
            response = JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {"server": path}})
        await response(scope, receive, send)

    return app


@contextlib.contextmanager
def fleet(count: int) -> Iterator[tuple[list[str], ScriptedAS, Recorder]]:
    recorder = Recorder()
    as_lazy, mcp_lazy = Lazy(), Lazy()
    with serve_asgi(as_lazy) as as_served, serve_asgi(mcp_lazy) as mcp_served:
        auth = ScriptedAS(as_served.base_url)
        as_lazy.inner = recorder.wrap("as", auth.app())
        mcp_lazy.inner = recorder.wrap("mcp", fleet_app(mcp_served.base_url, auth, count))
        yield [mcp_served.url(f"/mcp/{n}") for n in range(count)], auth, recorder


def manager(**options: Any) -> ZeroAuthManager:
    return ZeroAuthManager(
        store=options.pop("store", MemoryTokenStore()),
        url_policy=DEVELOPMENT,
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        **options,
    )


@pytest.mark.anyio
async def test_c30_fifty_servers_one_as_one_metadata_fetch_one_registration() -> None:
    with fleet(50) as (urls, auth, recorder):
        m = manager()
        statuses = await m.authorize_all(urls, concurrency=50)
        assert all(not isinstance(s, ZeroAuthError) for s in statuses.values()), statuses
        metadata = recorder.where(server="as", path="/.well-known/oauth-authorization-server")
        assert len(metadata) == 1
        assert len(recorder.where(server="as", path="/register")) == 1
        assert len(auth.clients) == 1
        # one token per resource (RFC 8707 audience), all from the same client
        resources = {g["resource"] for g in auth.tokens.values()}
        assert resources == set(urls)
        assert {g["client_id"] for g in auth.tokens.values()} == set(auth.clients)
        status = m.status(urls[7])
        assert status is not None
        assert status.resource == urls[7]
        assert status.issuer == auth.issuer
        assert status.has_refresh_token


@pytest.mark.anyio
async def test_tokens_are_per_resource_and_used_over_one_client() -> None:
    with fleet(3) as (urls, _auth, recorder):
        m = manager()
        await m.authorize_all(urls)
        recorder.clear()
        async with m.http_client() as http:
            responses = [await http.post(url, json=PING) for url in urls]
        assert [r.json()["result"]["server"] for r in responses] == [
            "/mcp/0", "/mcp/1", "/mcp/2"]  # fmt: skip
        assert len(recorder.seen) == 3  # warm: one request each, no OAuth traffic
        sent = {s.headers["authorization"] for s in recorder.seen}
        assert len(sent) == 3  # a different token for each resource


@pytest.mark.anyio
async def test_forget_drops_one_server_only() -> None:
    with fleet(2) as (urls, auth, recorder):
        m = manager()
        await m.authorize_all(urls)
        m.forget(urls[0])
        assert m.status(urls[0]) is None
        assert m.status(urls[1]) is not None
        assert m.store.load("client", auth.issuer) is not None  # the registration stays
        recorder.clear()
        await m.authorize(urls[0])
        assert recorder.where(server="as", path="/register") == []


def test_sync_httpx2_client_works_with_the_same_engine() -> None:
    with fleet(2) as (urls, auth, _recorder):
        m = manager()
        anyio.run(m.authorize, urls[0])
        with httpx2.Client(auth=m.auth) as http:
            assert http.post(urls[0], json=PING).status_code == 200  # stored token
            assert http.post(urls[1], json=PING).status_code == 200  # sync flow authorizes
        assert len(auth.clients) == 1
