"""DPoP end to end with zeroauth on every side (RFC 9449 §5, §6.1, §7; SEP-1932): the dev AS
binds tokens to the key a token request proves (``cnf.jkt``, ``token_type`` DPoP), the
zero-config client binds because both the AS and the MCP server offer DPoP, and the server
(``protect(dpop=DPoP())``) accepts the bound token with a proof per request. A stolen bound
token is useless as Bearer (G2), and a public client's refresh token needs the same key."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx2
import jwt
import pytest

from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.dpop import make_proof
from zeroauth.core.dpop_key import DPoPKey
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server import DPoP

pytestmark = pytest.mark.anyio
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_notes", "arguments": {}}}  # fmt: skip
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@dataclass
class Stack:
    issuer: str
    mcp: str


@asynccontextmanager
async def stack(*, dpop_nonce: bool = False) -> AsyncIterator[Stack]:
    as_sock, mcp_sock = bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    mcp = f"http://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    config = DevServerConfig(
        issuer=issuer, resources=[ProtectedResource(mcp, (READ_SCOPE, WRITE_SCOPE))],
        auto_approve=True, dpop_nonce=dpop_nonce,
    )  # fmt: skip
    async with AsyncExitStack() as es:
        await es.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
        await es.enter_async_context(serve_socket(demo_app(mcp, issuer, dpop=DPoP()), mcp_sock))
        yield Stack(issuer, mcp)


def _client(store: MemoryTokenStore) -> ZeroAuth:
    return ZeroAuth(store=store, url_policy=DEVELOPMENT,
                    user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip


async def test_rfc9449_zero_config_client_gets_and_uses_a_bound_token() -> None:
    async with stack() as s:
        store = MemoryTokenStore()
        async with httpx2.AsyncClient(auth=_client(store)) as http:
            response = await http.post(s.mcp, json=CALL, headers=HEADERS)
            assert response.status_code == 200, response.text
            sent = response.request.headers["authorization"]
            assert sent.startswith("DPoP ")  # RFC 9449 §7.1: the DPoP scheme
            assert "dpop" in response.request.headers  # with a proof
            again = await http.post(s.mcp, json=CALL, headers=HEADERS)
            assert again.status_code == 200  # a fresh proof per request (no replay)
        token = sent.split(" ", 1)[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        [key_record] = [store.load("dpop", k) for k in store.keys("dpop")]
        assert key_record is not None
        assert claims["cnf"]["jkt"] == DPoPKey.from_private_key(key_record["pem"]).thumbprint

        # G2: the same token without its key is useless
        thief = DPoPKey.generate()
        proof = make_proof(thief, method="POST", url=s.mcp, now=time.time(), access_token=token)
        async with httpx2.AsyncClient() as http:
            as_bearer = {**HEADERS, "Authorization": f"Bearer {token}"}
            stolen = await http.post(s.mcp, json=CALL, headers=as_bearer)
            with_own_key = {**HEADERS, "Authorization": f"DPoP {token}", "DPoP": proof}
            forged = await http.post(s.mcp, json=CALL, headers=with_own_key)
        assert stolen.status_code == 401
        assert forged.status_code == 401
        assert forged.json()["error"] == "invalid_dpop_proof"


async def test_rfc9449_s5_a_public_clients_refresh_token_is_bound_to_its_key() -> None:
    async with stack() as s:
        store = MemoryTokenStore()
        auth = _client(store)
        await auth.atoken(s.mcp)
        [tokens_key] = store.keys("tokens")
        refresh = store.load("tokens", tokens_key)
        assert refresh is not None
        assert refresh.get("refresh_token")
        async with httpx2.AsyncClient() as http:
            unbound = await http.post(f"{s.issuer}/token", data={
                "grant_type": "refresh_token", "refresh_token": refresh["refresh_token"],
                "client_id": store.load("client", store.keys("client")[0])["client_id"],
            })  # fmt: skip
        assert unbound.status_code == 400
        assert unbound.json()["error"] == "invalid_dpop_proof"


async def test_rfc9449_s8_the_dev_as_demands_a_nonce_and_the_client_supplies_it() -> None:
    async with stack(dpop_nonce=True) as s:
        store = MemoryTokenStore()
        async with httpx2.AsyncClient(auth=_client(store)) as http:
            response = await http.post(s.mcp, json=CALL, headers=HEADERS)
        assert response.status_code == 200, response.text  # the client retried with the nonce
        assert response.request.headers["authorization"].startswith("DPoP ")
        # by hand: a refresh with the client's own key but no nonce gets use_dpop_nonce
        [dpop_key] = store.keys("dpop")
        record = store.load("dpop", dpop_key)
        assert record is not None
        key = DPoPKey.from_private_key(record["pem"])
        tokens = store.load("tokens", store.keys("tokens")[0])
        client = store.load("client", store.keys("client")[0])
        assert tokens is not None
        assert client is not None
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                "client_id": client["client_id"]}  # fmt: skip
        url = f"{s.issuer}/token"
        async with httpx2.AsyncClient() as http:
            first = await http.post(url, data=form, headers={
                "DPoP": make_proof(key, method="POST", url=url, now=time.time())})  # fmt: skip
            assert first.status_code == 400
            assert first.json()["error"] == "use_dpop_nonce"
            nonce = first.headers["dpop-nonce"]
            proof = make_proof(key, method="POST", url=url, now=time.time(), nonce=nonce)
            again = await http.post(url, data=form, headers={"DPoP": proof})
        assert again.status_code == 200, again.text
        assert again.json()["token_type"] == "DPoP"
