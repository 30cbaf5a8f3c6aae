"""The gateway end to end: the real AS, the gateway, three official-SDK upstream MCP servers.

Issue 8 "Done when": the real authorization server of the test bed (oidc-provider) with a
Keycloak-style issuer ``/realms/ai-agents``; three upstream MCP servers built with the official
``mcp`` SDK (github: stateless JSON, static bearer credentials; jira: stateful SSE, protected by
zeroauth and reached with the gateway's own client-credentials token; docs: stateless JSON, no
credentials, verifies the gateway's signed identity header and offers a resource and a prompt).
Clients know only the gateway URL: zeroauth's ``ZeroAuth`` and the SDK's own
``OAuthClientProvider``. Every upstream records the ``Authorization`` headers it receives, to
prove the caller's token never reaches one (G-16, SECURITY.md B11).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from tests.helpers.asgi_server import ServedApp, serve_asgi_async
from tests.helpers.recorder import Recorder
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.realas.fixtures import RealAS
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.gateway import GatewayApp, IdentityVerifier, parse_config
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

UPSTREAMS = ("github", "jira", "docs")
SCOPES = tuple(f"mcp:{name}:{kind}" for name in UPSTREAMS for kind in ("read", "write"))
GITHUB_TOKEN = "static-github-upstream-token-0123456789"
IDENTITY_SECRET = "identity-secret-for-tests-0123456789abcdef"
GATEWAY_CLIENT = {
    "client_id": "zeroauth-gateway",
    "client_secret": "gateway-client-secret",
    "grant_types": ["client_credentials"],
    "response_types": [],
    "redirect_uris": [],
    "token_endpoint_auth_method": "client_secret_basic",
}


def github_app() -> Any:
    server = MCPServer("github", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def search_issues(query: str) -> str:
        """Search issues."""
        return f"github issues matching {query}"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False))
    def create_issue(title: str) -> str:
        """Open an issue."""
        return f"github created {title}"

    return server.streamable_http_app(stateless_http=True, json_response=True)


def jira_app() -> Any:
    server = MCPServer("jira", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def get_ticket(key: str) -> str:
        """Read a ticket."""
        return f"jira ticket {key}"

    @server.tool()
    def update_ticket(key: str, status: str) -> str:
        """Change a ticket."""
        return f"jira {key} -> {status}"

    return server.streamable_http_app()  # stateful, SSE responses: the SDK default


def docs_app(expect: dict[str, str], identities: list[Any]) -> Any:
    """``expect`` holds the gateway's resource (the identity ``iss``) and this server's URL."""
    server = MCPServer("docs", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def lookup(term: str) -> str:
        """Look a term up."""
        return f"docs on {term}"

    @server.resource("docs://handbook")
    def handbook() -> str:
        """The handbook."""
        return "the handbook text"

    @server.prompt()
    def summarize(topic: str) -> str:
        """Summarize a topic."""
        return f"Please summarize {topic}."

    inner = server.streamable_http_app(stateless_http=True, json_response=True)

    async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(b"x-zeroauth-identity")
            verifier = IdentityVerifier(
                key=IDENTITY_SECRET, issuer=expect["gateway"], audience=expect["self"]
            )
            identities.append(verifier.verify(value.decode()) if value else None)
        await inner(scope, receive, send)

    return checked


def gateway_config(resource: str, server: RealAS, urls: dict[str, str]) -> dict[str, Any]:
    return {
        "gateway": {"resource": resource, "resource_name": "AI agents gateway"},
        "issuer": [{"issuer": server.issuer}],  # jwks_uri discovered (RFC 8414, path-inserted)
        "identity": {"secret_env": "GATEWAY_IDENTITY_SECRET"},
        "upstream": [
            {
                "name": "github",
                "url": urls["github"],
                "credentials": {"type": "bearer", "token_env": "GITHUB_UPSTREAM_TOKEN"},
            },
            {
                "name": "jira",
                "url": urls["jira"],
                "credentials": {
                    "type": "client_credentials",
                    "issuer": server.issuer,
                    "client_id": GATEWAY_CLIENT["client_id"],
                    "client_secret_env": "GATEWAY_CLIENT_SECRET",
                    "scope": ["mcp:jira:read"],
                },
            },
            {"name": "docs", "url": urls["docs"]},
        ],
    }


@dataclass
class World:
    server: RealAS
    gateway: ServedApp
    app: GatewayApp
    recorder: Recorder
    identities: list[Any]
    upstream_stacks: dict[str, contextlib.AsyncExitStack]

    @property
    def url(self) -> str:
        return self.gateway.url("/mcp")

    def caller_tokens(self) -> set[str]:
        found = {s.authorization for s in self.recorder.seen if s.server == "gateway"}
        return {value for value in found if value}

    async def stop(self, upstream: str) -> None:
        await self.upstream_stacks[upstream].aclose()


@contextlib.asynccontextmanager
async def world(real_as_factory: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    server = real_as_factory(
        issuer_path="/realms/ai-agents", scopes=SCOPES, clients=[GATEWAY_CLIENT]
    )
    monkeypatch.setenv("GITHUB_UPSTREAM_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("GATEWAY_CLIENT_SECRET", GATEWAY_CLIENT["client_secret"])
    monkeypatch.setenv("GATEWAY_IDENTITY_SECRET", IDENTITY_SECRET)
    recorder = Recorder()
    identities: list[Any] = []
    expect: dict[str, str] = {}
    urls: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        stacks = {name: contextlib.AsyncExitStack() for name in UPSTREAMS}
        for sub in stacks.values():
            stack.push_async_callback(sub.aclose)
        gated = recorder.wrap("github", github_app(), gate=f"Bearer {GITHUB_TOKEN}")
        urls["github"] = (await stacks["github"].enter_async_context(serve_asgi_async(gated))).url(
            "/mcp"
        )
        jwks = JWKSCache(server.jwks_uri, url_policy=DEVELOPMENT)
        stack.push_async_callback(jwks.aclose)

        def jira(base: str) -> Any:
            verifier = JWTVerifier(issuer=server.issuer, resource=base + "/mcp", jwks=jwks)
            protected = BearerAuth(
                jira_app(),
                verifier=verifier,
                resource=base + "/mcp",
                authorization_servers=[server.issuer],
            )
            return recorder.wrap("jira", protected)

        served = await stacks["jira"].enter_async_context(serve_asgi_async(factory=jira))
        urls["jira"] = served.url("/mcp")

        def docs(base: str) -> Any:
            expect["self"] = base + "/mcp"
            return recorder.wrap("docs", docs_app(expect, identities))

        served = await stacks["docs"].enter_async_context(serve_asgi_async(factory=docs))
        urls["docs"] = served.url("/mcp")
        apps: list[GatewayApp] = []

        def gateway(base: str) -> Any:
            expect["gateway"] = base + "/mcp"
            apps.append(GatewayApp(parse_config(gateway_config(base + "/mcp", server, urls))))
            return recorder.wrap("gateway", apps[0])

        served = await stack.enter_async_context(serve_asgi_async(factory=gateway))
        yield World(server, served, apps[0], recorder, identities, stacks)


def zeroauth_client(**options: Any) -> ZeroAuth:
    return ZeroAuth(
        url_policy=DEVELOPMENT,
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        store=MemoryTokenStore(),
        **options,
    )


def text(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


def rpc(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        message["params"] = params
    return message


HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"}


# --- the tests -------------------------------------------------------------------------------


async def test_g16_zeroauth_client_knowing_only_the_gateway_url_uses_all_three_upstreams(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(real_as_factory, monkeypatch) as w:
        auth = zeroauth_client()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http)) as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {
                "github_search_issues",
                "github_create_issue",
                "jira_get_ticket",
                "jira_update_ticket",
                "docs_lookup",
            }
            got = await client.call_tool("github_search_issues", {"query": "auth"})
            assert text(got) == "github issues matching auth"
            assert text(await client.call_tool("jira_get_ticket", {"key": "AI-1"})) == (
                "jira ticket AI-1"
            )
            assert text(await client.call_tool("docs_lookup", {"term": "PRM"})) == "docs on PRM"
            resources = (await client.list_resources()).resources
            assert [str(r.uri) for r in resources] == ["docs://handbook"]
            read = await client.read_resource("docs://handbook")
            assert read.contents[0].text == "the handbook text"  # type: ignore[union-attr]
            prompts = (await client.list_prompts()).prompts
            assert [p.name for p in prompts] == ["docs_summarize"]
            prompt = await client.get_prompt("docs_summarize", {"topic": "OAuth"})
            assert "Please summarize OAuth." in str(prompt.messages[0].content)
        assert auth.engine.user_steps == 1  # one authorization for all three upstreams
        callers = w.caller_tokens()
        assert callers, "the client sent its token to the gateway"
        for upstream in UPSTREAMS:  # B11: the caller's token never leaves the gateway
            assert w.recorder.authorizations(upstream).isdisjoint(callers)
            for seen in w.recorder.seen:
                if seen.server == upstream:
                    assert not any(t.split()[-1] in seen.body.decode() for t in callers)
        assert w.recorder.authorizations("github") == {f"Bearer {GITHUB_TOKEN}"}
        assert w.recorder.authorizations("docs") == {None}
        jira_auth = w.recorder.authorizations("jira")
        assert len(jira_auth) == 1
        assert None not in jira_auth
        assert all(status == 200 or status == 202 for status, _ in w.recorder.responses[-3:])
        checked = [i for i in w.identities if i is not None]
        assert checked
        assert {i.subject for i in checked} == {"alice"}
        assert all(i.idp == w.server.issuer for i in checked)


async def test_b8_read_token_sees_only_github_reads_gets_403_with_scope_then_steps_up(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(real_as_factory, monkeypatch) as w:
        auth = zeroauth_client(scopes=["mcp:github:read"])
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http), mode="legacy") as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"github_search_issues"}
            got = await client.call_tool("github_search_issues", {"query": "x"})
            assert text(got) == "github issues matching x"
            (read_token,) = w.caller_tokens()
            async with httpx2.AsyncClient(timeout=30) as raw:
                expected = {
                    "jira_get_ticket": "mcp:jira:read",
                    "jira_update_ticket": "mcp:jira:write",
                    "docs_lookup": "mcp:docs:read",
                    "github_create_issue": "mcp:github:write",
                }
                for tool, scope in expected.items():
                    response = await raw.post(
                        w.url,
                        json=rpc("tools/call", {"name": tool, "arguments": {}}),
                        headers={**HEADERS, "Authorization": read_token},
                    )
                    assert response.status_code == 403, response.text
                    challenge = read_bearer_challenge(response.headers["www-authenticate"])
                    assert challenge is not None
                    assert challenge.error == "insufficient_scope"
                    assert challenge.scope == (scope,)
                    assert challenge.resource_metadata == w.gateway.url(
                        "/.well-known/oauth-protected-resource/mcp"
                    )
            # step-up, transparently: 403 -> re-authorize with the union -> retry (SEP-2350)
            created = await client.call_tool("github_create_issue", {"title": "T"})
            assert text(created) == "github created T"
            assert auth.engine.user_steps == 2
            challenges = [c for status, c in w.recorder.responses if status == 403]
            assert any(c and 'scope="mcp:github:write"' in c for c in challenges)
            after = {tool.name for tool in (await client.list_tools()).tools}
            assert after == {"github_search_issues", "github_create_issue"}


async def test_upstream_down_is_an_error_for_that_upstream_only(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(real_as_factory, monkeypatch) as w:
        auth = zeroauth_client()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http), mode="legacy") as client,
        ):
            assert len((await client.list_tools()).tools) == 5
            await w.stop("github")
            raw = await http.post(
                w.url,
                json=rpc(
                    "tools/call", {"name": "github_search_issues", "arguments": {"query": "q"}}
                ),
                headers=HEADERS,
            )
            assert raw.status_code == 200
            error = raw.json()["error"]
            assert error["code"] == -32010
            assert "github" in error["message"]
            assert error["data"] == {"upstream": "github"}
            assert text(await client.call_tool("jira_get_ticket", {"key": "K"})) == "jira ticket K"
            assert text(await client.call_tool("docs_lookup", {"term": "t"})) == "docs on t"
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"jira_get_ticket", "jira_update_ticket", "docs_lookup"}
            ready = await http.get(w.gateway.url("/readyz"))
            assert ready.status_code == 200
            assert ready.json()["upstreams"]["github"] == "down"


async def test_official_sdk_client_with_its_own_oauth_provider_gets_through(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(real_as_factory, monkeypatch) as w:
        sdk = sdk_oauth_provider(w.url, "http://127.0.0.1:43199/callback", "sdk client")
        provider = sdk.provider
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(w.url, http_client=http)) as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "jira_update_ticket" in names
            assert "docs_lookup" in names
            got = await client.call_tool("jira_update_ticket", {"key": "AI-2", "status": "done"})
            assert text(got) == "jira AI-2 -> done"
        assert sdk.landed.get("code")
        for upstream in UPSTREAMS:
            assert w.recorder.authorizations(upstream).isdisjoint(w.caller_tokens())


async def test_opaque_tokens_verified_by_introspection_discovered_from_the_issuer(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    introspector = {
        "client_id": "gateway-introspection",
        "client_secret": "introspection-secret",
        "grant_types": [],
        "response_types": [],
        "redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    server = real_as_factory(
        issuer_path="/realms/ai-agents",
        scopes=SCOPES,
        clients=[introspector],
        access_token_format="opaque",
    )
    monkeypatch.setenv("INTROSPECTION_SECRET", introspector["client_secret"])
    recorder = Recorder()
    expect: dict[str, str] = {}

    def docs(base: str) -> Any:
        expect["self"] = base + "/mcp"
        return recorder.wrap("docs", docs_app(expect, []))

    def gateway(base: str) -> Any:
        expect["gateway"] = base + "/mcp"
        issuer = {
            "issuer": server.issuer,
            "verify": "introspection",
            "client_id": introspector["client_id"],
            "client_secret_env": "INTROSPECTION_SECRET",
        }
        config = {
            "gateway": {"resource": base + "/mcp"},
            "issuer": [issuer],
            "upstream": [{"name": "docs", "url": expect["docs"]}],
        }
        return recorder.wrap("gateway", GatewayApp(parse_config(config)))

    async with serve_asgi_async(factory=docs) as up:
        expect["docs"] = up.url("/mcp")
        async with (
            serve_asgi_async(factory=gateway) as gw,
            httpx2.AsyncClient(auth=zeroauth_client(), timeout=30) as http,
            Client(streamable_http_client(gw.url("/mcp"), http_client=http)) as client,
        ):
            assert text(await client.call_tool("docs_lookup", {"term": "RFC 7662"})) == (
                "docs on RFC 7662"
            )
            (caller,) = {s.authorization for s in recorder.seen if s.server == "gateway"} - {None}
            assert caller.count(".") == 0  # opaque: only introspection can verify it
            assert caller not in recorder.authorizations("docs")
