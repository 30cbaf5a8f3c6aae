"""The gateway's `exchange` upstream credentials (RFC 8693, issue: multi-hop): a zero-config
client → the gateway → an official-SDK MCP server protected by zeroauth, each hop's token bound
to the next audience. The upstream receives a token exchanged for the caller (``sub`` = the user,
``act`` = the gateway, ``aud`` = the upstream, scopes no wider than the caller's), never the
caller's own token; a second call reuses the exchanged token. The IdP down: the exchanging
upstream answers with a clear JSON-RPC error, an upstream with other credentials still works."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import jwt
import pytest

from zeroauth.client import HeadlessUserStep, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app, demo_server
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)
from zeroauth.devserver._exchange import TOKEN_EXCHANGE_GRANT
from zeroauth.gateway import GatewayApp, parse_config

pytestmark = pytest.mark.anyio
SECRET = "gateway-s3cret"
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@dataclass
class Chain:
    gateway: str
    upstream: str
    idp_down: bool = False  # True: the IdP answers 503 to everything (down behind its proxy)
    upstream_tokens: list[str] = field(default_factory=list)


def _recording(app: Any, seen: list[str]) -> Any:
    async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"authorization":
                    seen.append(value.decode().partition(" ")[2])
        await app(scope, receive, send)

    return recorded


@asynccontextmanager
async def chain(monkeypatch: pytest.MonkeyPatch, *, warm_up: bool = False) -> AsyncIterator[Chain]:
    as_sock, gw_sock, up_sock = bind_loopback(), bind_loopback(), bind_loopback()
    open_sock = bind_loopback()  # an upstream the gateway reaches without any credentials
    open_url = f"http://127.0.0.1:{open_sock.getsockname()[1]}/mcp"
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    gateway = f"http://127.0.0.1:{gw_sock.getsockname()[1]}/mcp"
    upstream = f"http://127.0.0.1:{up_sock.getsockname()[1]}/mcp"
    scopes = (READ_SCOPE, WRITE_SCOPE)
    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(gateway, scopes), ProtectedResource(upstream, scopes)],
        clients=[PreregisteredClient(
            "gateway", client_secret=SECRET, token_endpoint_auth_method="client_secret_basic",
            grant_types=(TOKEN_EXCHANGE_GRANT,), acts_for=(gateway,), exchange_to=(upstream,),
        )],
        auto_approve=True, default_subject="alice",
    )  # fmt: skip
    monkeypatch.setenv("GW_SECRET", SECRET)
    gw_config = parse_config({
        "gateway": {"resource": gateway},
        "issuer": [{"issuer": issuer}],
        "upstream": [{
            "name": "notes", "url": upstream, "read_scopes": [READ_SCOPE],
            "write_scopes": [WRITE_SCOPE],
            "credentials": {"type": "exchange", "issuer": issuer, "client_id": "gateway",
                            "client_secret_env": "GW_SECRET", "scope": list(scopes)},
        }, {"name": "open", "url": open_url, "read_scopes": [READ_SCOPE],
             "write_scopes": [WRITE_SCOPE]}],
    })  # fmt: skip
    built = Chain(gateway, upstream)
    as_app = DevAuthorizationServer(config).app()

    async def idp(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and built.idp_down:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"Service Unavailable"})
            return
        await as_app(scope, receive, send)

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_socket(idp, as_sock))
        open_app = demo_server().streamable_http_app(stateless_http=True, json_response=True)
        await stack.enter_async_context(serve_socket(open_app, open_sock))
        up_app = _recording(demo_app(upstream, issuer), built.upstream_tokens)
        await stack.enter_async_context(serve_socket(up_app, up_sock))
        await stack.enter_async_context(
            serve_socket(GatewayApp(gw_config, drain=0.1, warm_up=warm_up), gw_sock)
        )
        yield built


def _call(rid: int, tool: str = "notes_list_notes") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}}  # fmt: skip


async def test_rfc8693_gateway_exchanges_the_callers_token_for_the_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with chain(monkeypatch) as c:
        auth = ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))
        caller = await auth.atoken(c.gateway)
        async with httpx2.AsyncClient(timeout=30, headers={
            **HEADERS, "Authorization": f"Bearer {caller}"}) as http:  # fmt: skip
            first = await http.post(c.gateway, json=_call(1))
            second = await http.post(c.gateway, json=_call(2))
        for response in (first, second):
            assert response.status_code == 200, response.text
            text = json.dumps(response.json())
            assert "zeroauth protects this server" in text, text
        assert caller not in c.upstream_tokens  # never forwarded (G-16: no passthrough)
        exchanged = {t for t in c.upstream_tokens if t}
        assert len(exchanged) == 1  # one exchange, reused for the second call
        claims = jwt.decode(exchanged.pop(), options={"verify_signature": False})
        assert claims["sub"] == "alice"
        assert claims["act"] == {"sub": "gateway"}  # RFC 8693 §4.1
        assert claims["aud"] == c.upstream  # bound to the upstream only
        caller_scopes = set(
            jwt.decode(caller, options={"verify_signature": False})["scope"].split()
        )
        assert set(claims["scope"].split()) <= caller_scopes  # never wider than the caller's


async def test_the_idp_down_fails_the_exchanging_upstream_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with chain(monkeypatch) as c:
        auth = ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))
        caller = await auth.atoken(c.gateway)
        async with httpx2.AsyncClient(timeout=30, headers={
            **HEADERS, "Authorization": f"Bearer {caller}"}) as http:  # fmt: skip
            warm = await http.post(c.gateway, json=_call(1, "open_list_notes"))
            assert warm.status_code == 200, warm.text  # the gateway now holds the IdP's keys
            c.idp_down = True
            failed = await http.post(c.gateway, json=_call(2))
            still = await http.post(c.gateway, json=_call(3, "open_list_notes"))
        assert failed.status_code == 200, failed.text  # a JSON-RPC error, not an HTTP failure
        error = failed.json()["error"]
        assert error["data"] == {"upstream": "notes"}
        assert "upstream 'notes' unavailable: no credentials" in error["message"], error
        assert "503" in error["message"] or "metadata" in error["message"], error  # says why
        assert still.status_code == 200, still.text
        assert "zeroauth protects this server" in json.dumps(still.json()), still.text
        assert not c.upstream_tokens  # nothing reached the exchanging upstream


async def test_an_exchange_upstream_works_at_once_after_a_warm_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Warm-up lists catalogs with no caller, so an exchange upstream cannot answer then; that
    must not make the first caller's call fail as if the upstream were down."""
    async with chain(monkeypatch, warm_up=True) as c:
        auth = ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))
        caller = await auth.atoken(c.gateway)
        async with httpx2.AsyncClient(timeout=30, headers={
            **HEADERS, "Authorization": f"Bearer {caller}"}) as http:  # fmt: skip
            response = await http.post(c.gateway, json=_call(1))
        assert response.status_code == 200, response.text
        assert "zeroauth protects this server" in json.dumps(response.json()), response.text
