"""Multi-hop on loopback (RFC 8693 token exchange): a zero-config client → an MCP-side service
("the gateway", BearerAuth) → a downstream API (BearerAuth), with the dev AS exchanging tokens.
The downstream sees the user as ``sub``, the gateway in ``act``, its own audience and narrowed
scopes, and never the client's token. Attacks: up-scoping, an audience not allowed for the
exchanging client, a subject token minted for another resource, a client without the grant, a
revoked or expired subject, cache isolation between callers; exchanges per (caller, target) are
counted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest

from zeroauth.client import HeadlessUserStep, TokenExchanger, ZeroAuth
from zeroauth.core.errors import OAuthError
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)
from zeroauth.devserver._exchange import TOKEN_EXCHANGE_GRANT
from zeroauth.server import BearerAuth, JWTVerifier, current_caller_token, current_token

pytestmark = pytest.mark.anyio
SECRET = "gateway-s3cret"


@dataclass
class Chain:
    issuer: str
    gateway: str
    downstream: str
    exchanger: TokenExchanger
    seen_downstream: list[str] = field(default_factory=list)  # tokens the downstream received

    def client(self) -> ZeroAuth:
        return ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT))


def _json_app(handler: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        status, body = await handler(scope)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    return app


@asynccontextmanager
async def chain(*, lifetime: int = 3600) -> AsyncIterator[Chain]:
    as_sock, gw_sock, down_sock = bind_loopback(), bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    gateway = f"http://127.0.0.1:{gw_sock.getsockname()[1]}/mcp"
    downstream = f"http://127.0.0.1:{down_sock.getsockname()[1]}/api"
    config = DevServerConfig(
        issuer=issuer,
        resources=[
            ProtectedResource(gateway, ("mcp:read", "api:read", "api:write")),
            ProtectedResource(downstream, ("api:read", "api:write")),
        ],
        clients=[
            PreregisteredClient(
                "gateway", client_secret=SECRET, token_endpoint_auth_method="client_secret_basic",
                grant_types=(TOKEN_EXCHANGE_GRANT,), acts_for=(gateway,), exchange_to=(downstream,),
            ),
            PreregisteredClient(
                "stranger", client_secret="x", token_endpoint_auth_method="client_secret_basic",
                grant_types=("client_credentials",), scopes=("api:read",),
            ),
        ],
        auto_approve=True,
        default_subject="alice",
        access_token_lifetime=lifetime,
    )  # fmt: skip
    exchanger = TokenExchanger(issuer=issuer, client_id="gateway", client_secret=SECRET)
    built = Chain(issuer, gateway, downstream, exchanger)

    async def down(scope: dict[str, Any]) -> tuple[int, Any]:
        token = current_token()
        assert token is not None
        built.seen_downstream.append(current_caller_token() or "")
        return 200, {"sub": token.subject, "actors": list(token.actors),
                     "aud": list(token.audience), "scopes": sorted(token.scopes)}  # fmt: skip

    async def gw(scope: dict[str, Any]) -> tuple[int, Any]:
        caller = current_caller_token()
        assert caller is not None
        wanted = ["api:read"]
        hop = await exchanger.exchange(caller, resource=downstream, scopes=wanted)
        async with httpx2.AsyncClient() as http:
            answer = await http.get(downstream, headers={"Authorization": f"Bearer {hop}"})
        return answer.status_code, answer.json()

    def verifier(resource: str) -> JWTVerifier:
        return JWTVerifier(issuer=issuer, resource=resource, jwks_uri=f"{issuer}/jwks")

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_socket(DevAuthorizationServer(config).app(), as_sock))
        await stack.enter_async_context(serve_socket(BearerAuth(
            _json_app(gw), verifier=verifier(gateway), resource=gateway,
            authorization_servers=[issuer], scopes_supported=["mcp:read", "api:read"],
        ), gw_sock))  # fmt: skip
        await stack.enter_async_context(serve_socket(BearerAuth(
            _json_app(down), verifier=verifier(downstream), resource=downstream,
            authorization_servers=[issuer],
        ), down_sock))  # fmt: skip
        yield built


async def test_rfc8693_three_hops_each_token_bound_to_the_next_audience() -> None:
    async with chain() as c:
        client_token = await c.client().atoken(c.gateway)
        async with httpx2.AsyncClient() as http:
            first = await http.get(c.gateway, headers={"Authorization": f"Bearer {client_token}"})
            again = await http.get(c.gateway, headers={"Authorization": f"Bearer {client_token}"})
        assert first.status_code == 200, first.text
        assert first.json() == {
            "sub": "alice",  # still the user
            "actors": ["gateway"],  # RFC 8693 §4.1: the gateway acts for her
            "aud": [c.downstream],  # bound to the next hop only
            "scopes": ["api:read"],  # narrowed
        }
        assert again.json() == first.json()
        assert c.exchanger.exchanges == 1  # one exchange per (caller, target), then cached
        assert client_token not in c.seen_downstream  # never forwarded (no passthrough)


async def test_up_scoping_and_foreign_targets_are_refused() -> None:
    async with chain() as c:
        client_token = await c.client().atoken(c.gateway)
        with pytest.raises(OAuthError) as wider:  # asks beyond what the caller holds
            await c.exchanger.exchange(client_token, resource=c.downstream, scopes=["api:admin"])
        assert wider.value.error == "invalid_scope"
        with pytest.raises(OAuthError) as target:  # an audience not allowed for this client
            await c.exchanger.exchange(client_token, resource=c.gateway)
        assert target.value.error == "invalid_target"


async def test_a_subject_token_minted_for_another_resource_is_refused() -> None:
    async with chain() as c:
        async with httpx2.AsyncClient() as http:
            other = (await http.post(f"{c.issuer}/token", auth=("stranger", "x"), data={
                "grant_type": "client_credentials", "resource": c.downstream,
            })).json()["access_token"]  # fmt: skip
        with pytest.raises(OAuthError) as caught:  # the gateway exchanges only its own tokens
            await c.exchanger.exchange(other, resource=c.downstream)
        assert caught.value.error == "invalid_grant"


async def test_a_client_without_the_grant_cannot_exchange() -> None:
    async with chain() as c:
        client_token = await c.client().atoken(c.gateway)
        stranger = TokenExchanger(issuer=c.issuer, client_id="stranger", client_secret="x")
        with pytest.raises(OAuthError) as caught:
            await stranger.exchange(client_token, resource=c.downstream)
        assert caught.value.error == "unauthorized_client"


async def test_a_revoked_subject_token_is_refused() -> None:
    async with chain() as c:
        auth = c.client()
        client_token = await auth.atoken(c.gateway)
        await auth.alogout(c.gateway)  # revokes the grant at the AS (RFC 7009)
        with pytest.raises(OAuthError) as caught:
            await c.exchanger.exchange(client_token, resource=c.downstream)
        assert caught.value.error == "invalid_grant"


async def test_two_callers_never_share_an_exchanged_token() -> None:
    async with chain() as c:
        first = await c.client().atoken(c.gateway)
        second = await c.client().atoken(c.gateway)  # another login, same subject "alice"
        assert first != second
        one = await c.exchanger.exchange(first, resource=c.downstream, scopes=["api:read"])
        two = await c.exchanger.exchange(second, resource=c.downstream, scopes=["api:read"])
        assert one != two
        assert c.exchanger.exchanges == 2


async def test_an_expired_subject_token_is_refused() -> None:
    async with chain(lifetime=1) as c:
        client_token = await c.client().atoken(c.gateway)
        await anyio.sleep(1.2)  # past its exp: the AS must not mint a fresh token from it
        with pytest.raises(OAuthError) as caught:
            await c.exchanger.exchange(client_token, resource=c.downstream)
        assert caught.value.error == "invalid_grant"
        assert "expired" in str(caught.value)
