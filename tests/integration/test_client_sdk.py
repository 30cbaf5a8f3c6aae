"""zeroauth's client inside the official ``mcp`` SDK (2.3.0), against an official-SDK server
protected by the SDK's own auth (``AuthSettings`` + a ``TokenVerifier``), tokens from zeroauth's
dev AS — nothing of zeroauth on the server side except the AS.

Also the README / docs/client.md example, executed as written, and 100 concurrent tool calls on
one connection with the token expiring mid-run: exactly one refresh (SECURITY.md A12).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.client_world import Lazy
from tests.helpers.docs import ROOT, run_example
from tests.helpers.recorder import Recorder
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.errors import InvalidToken
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier


class SDKVerifier:
    """The SDK's TokenVerifier protocol, checking RFC 9068 JWTs (signature, iss, aud, exp)."""

    def __init__(self, issuer: str, resource: str, lazy: Lazy) -> None:
        jwks = JWKSCache(f"{issuer}/jwks", url_policy=DEVELOPMENT)
        lazy.on_shutdown.append(jwks.aclose)
        self.resource = resource
        self.jwt = JWTVerifier(issuer=issuer, resource=resource, jwks=jwks, leeway=0)

    async def verify_token(self, token: str) -> SDKAccessToken | None:
        try:
            verified = await self.jwt.verify(token)
        except InvalidToken:
            return None
        return SDKAccessToken(
            token=token,
            client_id=verified.client_id or "",
            scopes=sorted(verified.scopes),
            expires_at=int(verified.expires_at) if verified.expires_at else None,
            resource=self.resource,
            subject=verified.subject,
        )


@dataclass
class SDKWorld:
    mcp: ServedApp
    auth: ServedApp
    recorder: Recorder

    @property
    def url(self) -> str:
        return self.mcp.url("/mcp")


@contextlib.contextmanager
def sdk_world(*, stateless: bool, token_lifetime: int = 3600) -> Iterator[SDKWorld]:
    recorder = Recorder()
    as_lazy = Lazy()
    with serve_asgi(as_lazy) as auth:
        issuer = auth.base_url
        mcp_lazy = Lazy()  # only for the verifier's shutdown hook

        def make_mcp(base_url: str) -> Any:
            resource = base_url + "/mcp"
            server = MCPServer(
                "notes",
                log_level="WARNING",
                token_verifier=SDKVerifier(issuer, resource, mcp_lazy),
                auth=AuthSettings(
                    issuer_url=issuer,
                    resource_server_url=resource,
                    required_scopes=["notes:read"],
                    validate_token_resource=True,
                ),
            )

            @server.tool()
            def add(a: int, b: int) -> int:
                """Add two numbers."""
                return a + b

            app = server.streamable_http_app(stateless_http=stateless, json_response=stateless)
            wrapped = recorder.wrap("mcp", app)

            async def with_hooks(scope: dict[str, Any], receive: Any, send: Any) -> None:
                if scope["type"] == "lifespan":
                    # run the SDK's lifespan, then our shutdown hooks
                    async def send_hooked(message: dict[str, Any]) -> None:
                        if message["type"] == "lifespan.shutdown.complete":
                            for hook in mcp_lazy.on_shutdown:
                                await hook()
                        await send(message)

                    await app(scope, receive, send_hooked)
                    return
                await wrapped(scope, receive, send)

            return with_hooks

        with serve_asgi(factory=make_mcp) as mcp:
            config = DevServerConfig(
                issuer=issuer,
                resources=[ProtectedResource(mcp.url("/mcp"), ("notes:read", "notes:write"))],
                auto_approve=True,
                access_token_lifetime=token_lifetime,
            )
            as_lazy.inner = recorder.wrap("as", DevAuthorizationServer(config).app())
            yield SDKWorld(mcp, auth, recorder)


def zero_auth(**options: Any) -> ZeroAuth:
    return ZeroAuth(
        store=options.pop("store", MemoryTokenStore()),
        url_policy=DEVELOPMENT,
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        **options,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "stateless"), [("legacy", False), ("2026-07-28", True)])
async def test_official_sdk_client_with_zeroauth_against_sdk_protected_server(
    mode: str, stateless: bool
) -> None:
    with sdk_world(stateless=stateless) as w:
        auth = zero_auth()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http), mode=mode) as client,
        ):
            tools = await client.list_tools()
            assert [t.name for t in tools.tools] == ["add"]
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.content[0].text == "5"  # type: ignore[union-attr]
        assert auth.engine.user_steps == 1
        # The SDK server published its PRM; the client found everything from the URL alone.
        assert w.recorder.where(server="mcp", path="/.well-known/oauth-protected-resource/mcp")
        assert w.recorder.where(server="as", path="/register")


README_EXAMPLE = """
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from zeroauth.client import FileTokenStore, HeadlessUserStep, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

async def main(url: str, store_dir: str) -> str:
    auth = ZeroAuth(
        store=FileTokenStore(store_dir),          # survives restarts
        url_policy=DEVELOPMENT,                   # http://127.0.0.1 is allowed (dev only)
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),  # default: the system browser
    )
    async with httpx2.AsyncClient(auth=auth) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("add", {"a": 20, "b": 22})
            return result.content[0].text
"""


def test_docs_example_runs_as_written(tmp_path: Any) -> None:
    namespace = run_example(README_EXAMPLE, "docs/client.md")
    with sdk_world(stateless=True) as w:
        assert anyio.run(namespace["main"], w.url, str(tmp_path / "store")) == "42"


@pytest.mark.parametrize("document", ["docs/client.md", "README.md"])
def test_docs_contain_the_executed_example(document: str) -> None:
    text = (ROOT / document).read_text()
    assert README_EXAMPLE.strip() in text


@pytest.mark.anyio
async def test_a12_hundred_concurrent_tool_calls_token_expiring_mid_run_one_refresh() -> None:
    with sdk_world(stateless=True, token_lifetime=3) as w:
        auth = zero_auth(refresh_skew=0.5)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http), mode="2026-07-28") as client,
        ):
            assert (await client.call_tool("add", {"a": 1, "b": 1})).content[0].text == "2"  # type: ignore[union-attr]
            started = time.monotonic()
            results: list[str] = []

            async def call(i: int) -> None:
                result = await client.call_tool("add", {"a": i, "b": 1})
                results.append(result.content[0].text)  # type: ignore[union-attr]

            # calls keep flowing while the token expires under them (2.5 s in)
            while time.monotonic() - started < 2.4:
                await call(0)
            async with anyio.create_task_group() as tg:
                for i in range(100):
                    tg.start_soon(call, i)
        assert sorted(int(r) for r in results[-100:]) == [i + 1 for i in range(100)]
        token_requests = w.recorder.where(server="as", path="/token")
        grants = [r.form().get("grant_type") for r in token_requests]
        assert grants == ["authorization_code", "refresh_token"]
        assert auth.engine.user_steps == 1
