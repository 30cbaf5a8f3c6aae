"""End to end: real tokens from the real authorization server, the official ``mcp`` SDK client,
and zeroauth-protected official-SDK and FastMCP servers under uvicorn on loopback.

Issue 7 "Done when": a token for our resource lets the client call a tool; a token for another
resource is refused with 401 (S-20, B1); a token without the tool's scope gets 403 with the
right ``scope=`` (S-15, S-16, B8); hierarchies (S-17) and ``tools/list`` filtering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from fastmcp import FastMCP
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from tests.helpers.asgi_server import serve_asgi
from tests.realas.fixtures import RealAS, obtain_tokens
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.integrations import fastmcp as zfastmcp
from zeroauth.integrations import mcp_sdk as zmcp
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import current_token
from zeroauth.server._scopes import requires_scopes
from zeroauth.server._verifier import AccessToken

pytestmark = pytest.mark.realas

HIERARCHY = {"mcp:write": ["mcp:read"]}


def build_sdk_server() -> MCPServer:
    server = MCPServer("notes-sdk")

    @server.tool()
    def whoami() -> str:
        token = current_token()
        return f"{token.subject if token else None} {sorted(token.scopes) if token else []}"

    @server.tool()
    @requires_scopes("mcp:write")
    def write_note(text: str) -> str:
        return f"saved {text}"

    return server


def build_fastmcp_server() -> FastMCP:
    server = FastMCP("notes-fastmcp")

    @server.tool
    def whoami() -> str:
        token = current_token()
        return f"{token.subject if token else None} {sorted(token.scopes) if token else []}"

    @server.tool
    @requires_scopes("mcp:write")
    def write_note(text: str) -> str:
        return f"saved {text}"

    return server


class LoopbackJWTVerifier:
    """``JWTVerifier`` with a JWKS cache allowed on loopback http (the test bed's AS), closed
    with the app (BearerAuth calls ``aclose`` at lifespan shutdown)."""

    def __init__(self, issuer: str, resource: str, jwks_uri: str) -> None:
        self.jwks = JWKSCache(jwks_uri, url_policy=DEVELOPMENT)
        self.jwt = JWTVerifier(issuer=issuer, resource=resource, jwks=self.jwks)

    async def verify(self, token: str) -> AccessToken:
        return await self.jwt.verify(token)

    async def aclose(self) -> None:
        await self.jwt.aclose()
        await self.jwks.aclose()


@dataclass
class Protected:
    kind: str
    url: str
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["mcp_sdk", "fastmcp"])
def protected(request: pytest.FixtureRequest, real_as: RealAS) -> Iterator[Protected]:
    kind: str = request.param

    def factory(base_url: str) -> Any:
        resource = f"{base_url}/mcp"
        verifier = LoopbackJWTVerifier(real_as.issuer, resource, real_as.jwks_uri)
        options: dict[str, Any] = {
            "verifier": verifier,
            "resource": resource,
            "authorization_servers": [real_as.issuer],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "required_scopes": ["mcp:read"],
            "hierarchy": HIERARCHY,
        }
        if kind == "mcp_sdk":
            return zmcp.protect(build_sdk_server(), **options)
        return zfastmcp.protect(build_fastmcp_server(), **options)

    with serve_asgi(factory=factory) as server:
        target = Protected(kind, server.url("/mcp"))
        for name, resource, scope in [
            ("read", target.url, "mcp:read"),
            ("write", target.url, "mcp:write"),
            ("other-resource", "http://127.0.0.1:9/other/mcp", "mcp:read mcp:write"),
        ]:
            target.tokens[name] = obtain_tokens(real_as, resource=resource, scope=scope)[
                "access_token"
            ]
        yield target


class Recorder:
    """httpx2 response hook: status and WWW-Authenticate of every response the client saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, list[str]]] = []

    async def __call__(self, response: httpx2.Response) -> None:
        self.seen.append((response.status_code, response.headers.get_list("www-authenticate")))

    def refusals(self) -> list[tuple[int, list[str]]]:
        return [(status, values) for status, values in self.seen if status in (401, 403)]


@asynccontextmanager
async def client(
    target: Protected, token: str, recorder: Recorder, mode: str
) -> AsyncIterator[Client]:
    """The official SDK client, sending ``token`` as a Bearer header on every request."""
    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            event_hooks={"response": [recorder]},
            timeout=20,
        ) as http,
        Client(streamable_http_client(target.url, http_client=http), mode=mode) as mcp,
    ):
        yield mcp


MODES = ["legacy", "2026-07-28"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_s19_s20_token_for_our_resource_calls_a_tool(protected, mode):
    recorder = Recorder()
    async with client(protected, protected.tokens["read"], recorder, mode) as mcp:
        tools = await mcp.list_tools()
        # every tool is listed; write_note beyond the token's scopes answers 403 with scope=
        assert sorted(t.name for t in tools.tools) == ["whoami", "write_note"]
        result = await mcp.call_tool("whoami", {})
        assert not result.is_error
        subject, scopes = result.content[0].text.split(" ", 1)
        assert subject not in ("None", "")
        assert "mcp:read" in scopes
    assert recorder.refusals() == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_b1_s20_token_for_another_resource_gets_401(protected, mode):
    recorder = Recorder()
    with pytest.raises((MCPError, httpx2.HTTPStatusError, ExceptionGroup)):
        async with client(protected, protected.tokens["other-resource"], recorder, mode) as mcp:
            await mcp.call_tool("whoami", {})
    status, values = recorder.refusals()[0]
    assert status == 401
    parsed = read_bearer_challenge(values)
    assert parsed is not None
    assert parsed.error == "invalid_token"
    assert parsed.resource_metadata == protected.url.replace(
        "/mcp", "/.well-known/oauth-protected-resource/mcp"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_b8_s15_s16_token_without_the_tools_scope_gets_403_with_scope(protected, mode):
    recorder = Recorder()
    async with client(protected, protected.tokens["read"], recorder, mode) as mcp:
        with pytest.raises(MCPError):
            await mcp.call_tool("write_note", {"text": "hello"})
    [(status, values)] = recorder.refusals()
    assert status == 403
    parsed = read_bearer_challenge(values)
    assert parsed is not None
    assert parsed.error == "insufficient_scope"
    assert parsed.scope == ("mcp:read", "mcp:write")


@pytest.mark.anyio
async def test_s17_broad_scope_implies_the_narrow_one_end_to_end(protected):
    recorder = Recorder()
    async with client(protected, protected.tokens["write"], recorder, "2026-07-28") as mcp:
        tools = await mcp.list_tools()
        assert sorted(t.name for t in tools.tools) == ["whoami", "write_note"]
        assert (await mcp.call_tool("whoami", {})).content[0].text.endswith("['mcp:write']")
        result = await mcp.call_tool("write_note", {"text": "hello"})
        assert result.content[0].text == "saved hello"
    assert recorder.refusals() == []


def test_s01_s08_prm_names_the_real_authorization_server(protected, real_as):
    prm = protected.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    doc = httpx2.get(prm, timeout=10).json()
    assert doc["resource"] == protected.url
    assert doc["authorization_servers"] == [real_as.issuer]
    assert doc["scopes_supported"] == ["mcp:read", "mcp:write"]
