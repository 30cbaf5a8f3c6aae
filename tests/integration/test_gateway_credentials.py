"""The gateway's own upstream credentials are the client's machine flow (G-16; OAuth 2.1 §4.2).

On loopback, for real: zeroauth's dev AS as the IdP (a pre-registered confidential client whose
access tokens live 30 seconds; its token endpoint discovered from the issuer, RFC 8414) and an
MCP upstream reached through the gateway's ``Upstream``. The gateway's clock is injected. The
token is renewed by the flow's rule (``Run.stale``): within ``refresh_skew`` (30 s) of expiry but
never before four fifths of its lifetime, so a short-lived token is not fetched per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.clock import Clock
from tests.helpers.gateway import FakeUpstream
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.devserver._config import PreregisteredClient
from zeroauth.gateway._config import CredentialsConfig, UpstreamConfig
from zeroauth.gateway._credentials import ClientCredentialsGrant
from zeroauth.gateway._upstream import Upstream

pytestmark = pytest.mark.anyio
LIFETIME = 30
SECRET = "gateway-s3cret"


@dataclass
class Setup:
    upstream: Upstream
    fake: FakeUpstream
    clock: Clock
    grants: list[str] = field(default_factory=list)  # grant_type of each token request
    bodies: list[str] = field(default_factory=list)  # each token request's form body

    async def calls(self, n: int) -> None:
        for _ in range(n):
            assert (await self.upstream.rpc("tools/list"))["tools"][0]["name"] == "echo"


def counting(app: Callable[..., Any], grants: list[str], bodies: list[str]) -> Callable[..., Any]:
    """The AS app, recording each token request's grant_type and body."""

    async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/token"):
            await app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        grants.extend(p[11:] for p in body.decode().split("&") if p.startswith("grant_type="))
        bodies.append(body.decode())
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return counted


@contextlib.asynccontextmanager
async def setup(**options: Any) -> AsyncIterator[Setup]:
    fake = FakeUpstream()
    grants: list[str] = []
    bodies: list[str] = []
    async with serve_asgi_async(fake) as up:
        url = up.url("/mcp")

        def make_as(base: str) -> Any:
            config = DevServerConfig(
                issuer=base,
                resources=[ProtectedResource(url, ("mcp:read",))],
                clients=[
                    PreregisteredClient(
                        "gateway",
                        client_secret=SECRET,
                        token_endpoint_auth_method="client_secret_basic",
                        grant_types=("client_credentials",),
                        scopes=("mcp:read",),
                    )
                ],
                access_token_lifetime=LIFETIME,
            )
            return counting(DevAuthorizationServer(config).app(), grants, bodies)

        async with serve_asgi_async(factory=make_as) as idp:
            credentials = CredentialsConfig(
                type="client_credentials",
                issuer=idp.base_url,
                client_id="gateway",
                client_secret=SECRET,
                scope=("mcp:read",),
                resource=url,
                **options,
            )
            config = UpstreamConfig(
                name="up", url=url, prefix="up", read_scopes=(), write_scopes=(),
                credentials=credentials,
            )  # fmt: skip
            clock = Clock(now=1_000_000.0)
            grant = ClientCredentialsGrant(credentials, clock=clock)
            upstream = Upstream(config, credentials=grant)
            try:
                yield Setup(upstream, fake, clock, grants, bodies)
            finally:
                await upstream.aclose()


async def test_a_30_second_token_is_fetched_once_for_twenty_upstream_calls() -> None:
    async with setup() as s:
        await s.calls(20)
        assert s.grants == ["client_credentials"]
        sent = [a for a in s.fake.authorizations if a]
        assert len(sent) >= 20  # the handshake, then 20 calls: all with the one token
        assert len(set(sent)) == 1


async def test_the_token_is_renewed_once_past_four_fifths_of_its_lifetime() -> None:
    async with setup() as s:
        await s.calls(3)
        s.clock.now += LIFETIME * 4 / 5 - 1  # 23 s in: still fresh
        await s.calls(3)
        assert s.grants == ["client_credentials"]
        s.clock.now += 2  # 25 s in: past four fifths
        await s.calls(5)
        assert s.grants == ["client_credentials"] * 2  # renewed once, then reused
        sent = [a for a in s.fake.authorizations if a]
        assert len(set(sent)) == 2
        assert sent[-5:] == [sent[-1]] * 5  # the calls after the renewal use the new token
        assert sent[-6] != sent[-1]


async def test_an_upstream_401_invalidates_the_token_and_one_new_one_is_fetched() -> None:
    async with setup() as s:
        await s.calls(2)
        s.upstream.credentials.invalidate()
        await s.calls(3)
        assert s.grants == ["client_credentials"] * 2


async def test_authorization_params_reach_the_client_credentials_request() -> None:
    # OAuth 2.1 §4.2 + RFC 6749 §3.1 extension parameters (Auth0 `audience`), from the config
    async with setup(authorization_params={"audience": "https://api.example"}) as s:
        await s.calls(1)
        assert s.grants == ["client_credentials"]
        assert "audience=https%3A%2F%2Fapi.example" in s.bodies[0].split("&")
