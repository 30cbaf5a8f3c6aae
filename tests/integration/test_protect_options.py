"""``protect()`` options compose, and the PRM lists the scopes the server uses (issue 18).

Both integrations (the official ``mcp`` SDK's ``MCPServer`` and FastMCP) under uvicorn on loopback,
called over streamable HTTP with httpx2. S-05 (``scopes_supported``, the minimal ones first),
S-13 (``scope`` in the 401), S-15/S-16 (403 naming every scope a tool needs), S-17
(hierarchies), RFC 9728 §2 (``scopes_supported``); S-08 (``BearerAuth`` never advertises a
metadata URL it answers 401).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from fastmcp import FastMCP
from mcp.server.mcpserver import MCPServer

from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidInput
from zeroauth.integrations import fastmcp as fastmcp_integration
from zeroauth.integrations import mcp_sdk
from zeroauth.server import AccessToken, BearerAuth, ScopePolicy, requires_scopes

AS = "https://as.example.com"
TOKENS = {
    "read": {"notes:read"},
    "write": {"notes:read", "notes:write"},
    "admin": {"notes:admin"},  # implies notes:write and notes:read through the hierarchy
    "none": set(),
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-06-18",
}


class Verifier:
    async def verify(self, token: str) -> AccessToken:
        return AccessToken(
            issuer=AS, subject=token, client_id="c", audience=("x",),
            scopes=frozenset(TOKENS[token]), expires_at=None,
        )  # fmt: skip


def sdk_server() -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def read_note(name: str) -> str:
        return f"read {name}"

    @server.tool()
    @requires_scopes("notes:write")
    def write_note(name: str) -> str:
        return f"wrote {name}"

    @server.tool()
    def purge() -> str:
        return "purged"

    return server


def fastmcp_server() -> FastMCP:
    server = FastMCP("notes")

    @server.tool
    def read_note(name: str) -> str:
        return f"read {name}"

    @server.tool
    @requires_scopes("notes:write")
    def write_note(name: str) -> str:
        return f"wrote {name}"

    @server.tool
    def purge() -> str:
        return "purged"

    return server


INTEGRATIONS: dict[str, tuple[Callable[[], Any], Callable[..., Any]]] = {
    "mcp-sdk": (sdk_server, mcp_sdk.protect),
    "fastmcp": (fastmcp_server, fastmcp_integration.protect),
}


@pytest.fixture(params=sorted(INTEGRATIONS))
def integration(request: pytest.FixtureRequest) -> tuple[Callable[[], Any], Callable[..., Any]]:
    return INTEGRATIONS[request.param]


def serve(integration: Any, **options: Any) -> Any:
    make_server, protect = integration

    def factory(base: str) -> Any:
        return protect(
            make_server(), verifier=Verifier(), resource=f"{base}/mcp",
            authorization_servers=[AS], stateless_http=True, json_response=True, **options,
        )  # fmt: skip

    return serve_asgi(factory=factory)


def rpc(base: str, token: str | None, method: str, params: dict[str, Any]) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    headers = dict(HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(f"{base}/mcp", content=json.dumps(body), headers=headers, timeout=20)


def call(base: str, token: str, tool: str, **arguments: Any) -> httpx2.Response:
    return rpc(base, token, "tools/call", {"name": tool, "arguments": arguments})


def listed(base: str, token: str) -> set[str]:
    response = rpc(base, token, "tools/list", {})
    assert response.status_code == 200, response.text
    return {tool["name"] for tool in response.json()["result"]["tools"]}


def scope_of(response: httpx2.Response) -> tuple[str, ...]:
    challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None
    return challenge.scope


def prm(base: str) -> dict[str, Any]:
    response = httpx2.get(f"{base}/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


# --- every option composes (issue 18: scope_policy was refused with required_scopes) ----------


def test_s15_s17_scope_policy_composes_with_every_shorthand(integration):
    policy = ScopePolicy(hierarchy={"notes:admin": ["notes:write"]}, filter_tools_list=False)
    with serve(
        integration,
        scope_policy=policy,
        required_scopes=["notes:read"],
        hierarchy={"notes:write": ["notes:read"]},
        tool_scopes={"purge": ["notes:admin"]},
        hide_tools=True,
    ) as served:
        base = served.base_url
        unauthenticated = rpc(base, None, "tools/list", {})
        assert unauthenticated.status_code == 401
        assert scope_of(unauthenticated) == ("notes:read",)  # required_scopes (S-13)
        assert rpc(base, "none", "tools/list", {}).status_code == 403  # required applies
        # hide_tools=True replaced the policy's filter_tools_list=False
        assert listed(base, "read") == {"read_note"}
        assert listed(base, "write") == {"read_note", "write_note"}
        refused = call(base, "write", "purge")  # tool_scopes applies
        assert refused.status_code == 403
        assert scope_of(refused) == ("notes:read", "notes:admin")  # S-16: all in one
        # both hierarchies: admin -> write (the policy's) -> read (the shorthand's)
        assert listed(base, "admin") == {"read_note", "write_note", "purge"}
        assert call(base, "admin", "write_note", name="a").status_code == 200
        assert call(base, "admin", "purge").status_code == 200


def test_hide_tools_unset_keeps_the_policys_choice_and_false_overrides_it(integration):
    hiding = ScopePolicy(required=["notes:read"], filter_tools_list=True)
    with serve(integration, scope_policy=hiding) as served:
        assert listed(served.base_url, "read") == {"read_note", "purge"}
    with serve(integration, scope_policy=hiding, hide_tools=False) as served:
        assert listed(served.base_url, "read") == {"read_note", "write_note", "purge"}
        refused = call(served.base_url, "read", "write_note", name="a")  # step-up reachable
        assert refused.status_code == 403
        assert scope_of(refused) == ("notes:read", "notes:write")


# --- scopes_supported derived when not given (S-05, RFC 9728 §2) ---------------------------


def test_s05_scopes_supported_defaults_to_required_then_tool_scopes(integration):
    with serve(
        integration, required_scopes=["notes:read"], tool_scopes={"purge": ["notes:admin"]}
    ) as served:
        document = prm(served.base_url)
        # required first (the minimal set), then explicit tool scopes, then declared markers
        assert document["scopes_supported"] == ["notes:read", "notes:admin", "notes:write"]
        response = rpc(served.base_url, None, "tools/list", {})
        assert scope_of(response) == ("notes:read",)  # the 401 still asks for the minimum


def test_s05_scopes_supported_from_markers_alone_and_explicit_wins(integration):
    with serve(integration) as served:
        assert prm(served.base_url)["scopes_supported"] == ["notes:write"]
    with serve(integration, scopes_supported=["notes:read"], required_scopes=["notes:read"]) as s:
        assert prm(s.base_url)["scopes_supported"] == ["notes:read"]


def test_s05_bearer_auth_derives_scopes_supported_from_its_policy():
    policy = ScopePolicy(required=["api:read"], routes={"/admin": ["api:admin"]})

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    def factory(base: str) -> BearerAuth:
        return BearerAuth(app, verifier=Verifier(), resource=f"{base}/mcp",
                          authorization_servers=[AS], scope_policy=policy)  # fmt: skip

    with serve_asgi(factory=factory) as served:
        assert prm(served.base_url)["scopes_supported"] == ["api:read", "api:admin"]


# --- a metadata URL is only advertised when something serves it (S-08) ----------------------


def test_s08_bearer_auth_without_authorization_servers_refuses_to_construct():
    with pytest.raises(InvalidInput) as refused:
        BearerAuth(lambda *a: None, verifier=Verifier(), resource="https://mcp.example.com/mcp")
    assert refused.value.requirement == "S-08"
    assert "authorization_servers=" in str(refused.value)
    assert "resource_metadata_url=" in str(refused.value)


def test_s08_metadata_served_elsewhere_is_named_with_resource_metadata_url():
    elsewhere = "https://meta.example.com/.well-known/oauth-protected-resource/mcp"

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    auth = BearerAuth(
        app, verifier=Verifier(), resource="https://mcp.example.com/mcp",
        resource_metadata_url=elsewhere,
    )  # fmt: skip
    with serve_asgi(auth) as served:
        response = httpx2.post(f"{served.base_url}/mcp")
        assert response.status_code == 401
        challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
        assert challenge is not None
        assert challenge.resource_metadata == elsewhere
