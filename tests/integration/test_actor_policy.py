"""An upstream that requires its tokens to come through the gateway (RFC 8693 §4.1 ``act``;
SECURITY G3/G4 neighbours): ``RequireActor(JWTVerifier(...), actors={"gateway"})`` behind
``BearerAuth``, with the dev AS exchanging tokens. A token the gateway exchanged passes; one
exchanged by another service (``act`` naming it), or the user's own token for the upstream (no
``act``), is refused with 401 ``invalid_token`` and a description saying why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from zeroauth.client import HeadlessUserStep, TokenExchanger, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)
from zeroauth.devserver._exchange import TOKEN_EXCHANGE_GRANT
from zeroauth.server import BearerAuth, JWTVerifier, RequireActor, current_token

pytestmark = pytest.mark.anyio


@dataclass
class World:
    issuer: str
    gateway: str
    upstream: str

    def client(self) -> ZeroAuth:
        return ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))

    def exchanger(self, client_id: str) -> TokenExchanger:
        return TokenExchanger(issuer=self.issuer, client_id=client_id, client_secret="s3cret")


async def _upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    token = current_token()
    assert token is not None
    body = json.dumps({"sub": token.subject, "actors": list(token.actors)}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def world() -> AsyncIterator[World]:
    as_sock, gw_sock, up_sock = bind_loopback(), bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    gateway = f"http://127.0.0.1:{gw_sock.getsockname()[1]}/mcp"  # where the user logs in
    upstream = f"http://127.0.0.1:{up_sock.getsockname()[1]}/api"

    def service(name: str) -> PreregisteredClient:  # both may exchange gateway tokens
        return PreregisteredClient(
            name, client_secret="s3cret", token_endpoint_auth_method="client_secret_basic",
            grant_types=(TOKEN_EXCHANGE_GRANT,), acts_for=(gateway,), exchange_to=(upstream,),
        )  # fmt: skip

    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(gateway, ("api:read",)),
                   ProtectedResource(upstream, ("api:read",))],
        clients=[service("gateway"), service("rogue")],
        auto_approve=True, default_subject="alice",
    )  # fmt: skip

    def verifier(resource: str) -> JWTVerifier:
        return JWTVerifier(issuer=issuer, resource=resource, jwks_uri=f"{issuer}/jwks")

    front = BearerAuth(_upstream, verifier=verifier(gateway), resource=gateway,
                       authorization_servers=[issuer], scopes_supported=["api:read"])  # fmt: skip
    app = BearerAuth(
        _upstream, verifier=RequireActor(verifier(upstream), actors={"gateway"}),
        resource=upstream, authorization_servers=[issuer], scopes_supported=["api:read"],
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
        await stack.enter_async_context(serve_socket(front, gw_sock))
        await stack.enter_async_context(serve_socket(app, up_sock))
        yield World(issuer, gateway, upstream)


async def _get(url: str, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.get(url, headers={"Authorization": f"Bearer {token}"})


async def test_rfc8693_4_1_a_token_exchanged_by_the_gateway_is_accepted() -> None:
    async with world() as w:
        caller = await w.client().atoken(w.gateway)
        hop = await w.exchanger("gateway").exchange(caller, resource=w.upstream)
        answer = await _get(w.upstream, hop)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sub": "alice", "actors": ["gateway"]}


async def test_rfc8693_4_1_an_act_not_naming_the_gateway_is_refused() -> None:
    async with world() as w:
        caller = await w.client().atoken(w.gateway)
        hop = await w.exchanger("rogue").exchange(caller, resource=w.upstream)
        answer = await _get(w.upstream, hop)
        assert answer.status_code == 401
        challenge = answer.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge
        assert "exchanged by 'rogue', not an actor allowed here" in challenge


async def test_rfc8693_4_1_a_token_that_was_not_exchanged_is_refused() -> None:
    async with world() as w:
        direct = await w.client().atoken(w.upstream)  # the user's own token for the upstream
        answer = await _get(w.upstream, direct)
        assert answer.status_code == 401
        assert "accepts only exchanged tokens" in answer.headers["www-authenticate"]
