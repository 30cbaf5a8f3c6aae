"""Every ``<!-- example: NAME -->`` Python block of docs/server.md and README.md, executed.

Each block is extracted verbatim and run; the app it builds is served under uvicorn on loopback
and driven with the official ``mcp`` SDK client or httpx2. The blocks use ``verifier`` from the
"verifier" block; here it is an in-test ``TokenVerifier`` (a public protocol) so that tokens can
be issued without an authorization server (test_server_e2e.py does that part with real tokens).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.helpers import docs
from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidToken
from zeroauth.server import BearerAuth
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._verifier import AccessToken

WK = "/.well-known/oauth-protected-resource"


DOCS = docs.named_examples("docs/server.md")
README = docs.named_examples("README.md")


class TableVerifier:
    """Token string -> scopes; everything else is refused."""

    def __init__(self, tokens: dict[str, set[str]]) -> None:
        self.tokens = tokens

    async def verify(self, token: str) -> AccessToken:
        scopes = self.tokens.get(token)
        if scopes is None:
            raise InvalidToken("unknown token")
        return AccessToken(
            issuer="https://auth.example.com/realms/mcp",
            subject=f"user-{token}",
            client_id="docs",
            audience=("https://mcp.example.com/mcp",),
            scopes=frozenset(scopes),
            expires_at=None,
        )


def run_example(name: str, source: dict[str, str] = DOCS) -> dict[str, Any]:
    verifier = TableVerifier(
        {
            "read": {"notes:read", "api:read"},
            "write": {"notes:write"},
            "admin": {"api:admin"},
            "none": set(),
        }
    )
    return docs.run_example(source[name], f"<example {name}>", {"verifier": verifier})


def test_every_example_is_tested():
    assert set(DOCS) == {
        "verifier",
        "idp-verifier",
        "mcp-sdk",
        "fastmcp",
        "starlette",
        "several-resources",
    }
    assert set(README) == {"readme"}


def test_example_verifier_builds_a_jwt_verifier():
    namespace = docs.run_example(DOCS["verifier"], "<example verifier>")
    verifier = namespace["verifier"]
    assert isinstance(verifier, JWTVerifier)
    assert verifier.resources == ("https://mcp.example.com/mcp",)


def test_s19_s20_example_idp_verifier_builds_the_knobs():
    namespace = docs.run_example(DOCS["idp-verifier"], "<example idp-verifier>")
    entra, cognito = namespace["entra"], namespace["cognito"]
    assert len(entra.issuers) == 2
    assert entra.audiences == ("6e74172b-be56-4843-9ff4-e66a39bb12e3", "api://mcp-notes")
    assert entra.scope_claims == ("scp", "roles")
    assert cognito.allowed_client_ids == {"4c6pquq3d2n4hkv1h6qkf2u0bs"}
    assert cognito.audience_check


@asynccontextmanager
async def sdk_client(url: str, token: str, seen: list[httpx2.Response]) -> AsyncIterator[Client]:
    async def record(response: httpx2.Response) -> None:
        seen.append(response)

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, event_hooks={"response": [record]}
        ) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mcp-sdk", "fastmcp"])
async def test_example_mcp_servers(name):
    app = run_example(name)["app"]
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as http:
        url = server.url("/mcp")
        refused = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        challenge = read_bearer_challenge(refused.headers.get_list("www-authenticate"))
        assert challenge is not None
        assert challenge.resource_metadata == f"https://mcp.example.com{WK}/mcp"
        assert challenge.scope == ("notes:read",)
        assert http.get(f"{WK}/mcp").json()["resource"] == "https://mcp.example.com/mcp"

        seen: list[httpx2.Response] = []
        async with sdk_client(url, "read", seen) as client:
            listed = sorted(t.name for t in (await client.list_tools()).tools)
            assert listed == ["read_note", "write_note"]  # all listed; the 403 drives step-up
            text = (await client.call_tool("read_note", {"name": "n1"})).content[0].text
            assert text == "n1, read by user-read"
            with pytest.raises(MCPError):
                await client.call_tool("write_note", {"name": "n1", "text": "x"})
        denied = [r for r in seen if r.status_code == 403]
        assert len(denied) == 1
        challenge = read_bearer_challenge(denied[0].headers.get_list("www-authenticate"))
        assert challenge is not None
        assert challenge.error == "insufficient_scope"
        assert challenge.scope == ("notes:read", "notes:write")

        async with sdk_client(url, "write", []) as client:  # notes:write implies notes:read
            assert len((await client.list_tools()).tools) == 2
            result = await client.call_tool("write_note", {"name": "n1", "text": "x"})
            assert result.content[0].text == "saved n1"


@pytest.mark.anyio
async def test_s24_origin_is_validated_by_the_sdk_transport():
    app = run_example("mcp-sdk")["app"]
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as http:
        response = http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": "Bearer read",
                "Origin": "https://evil.example",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )
        assert response.status_code == 403
        assert "www-authenticate" not in response.headers  # the transport's refusal, not ours
        same_origin = http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Authorization": "Bearer read",
                "Origin": server.base_url,
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )
        assert same_origin.status_code != 403


def test_example_starlette():
    app = run_example("starlette")["app"]
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as http:
        response = http.get("/api/whoami")
        assert response.status_code == 401
        assert read_bearer_challenge(response.headers["www-authenticate"]).scope == ("api:read",)
        ok = http.get("/api/whoami", headers={"Authorization": "Bearer read"})
        assert ok.json() == {"sub": "user-read", "scopes": ["api:read", "notes:read"]}
        denied = http.get("/api/admin/stats", headers={"Authorization": "Bearer read"})
        assert denied.status_code == 403
        challenge = read_bearer_challenge(denied.headers["www-authenticate"])
        assert challenge.scope == ("api:read", "api:admin")
        admin = http.get("/api/admin/stats", headers={"Authorization": "Bearer admin"})
        assert admin.status_code == 200  # api:admin implies api:read
        assert http.get("/healthz").status_code == 404  # exempt: reaches the app, no route
        doc = http.get(f"{WK}/api").json()
        assert doc["resource"] == "https://api.example.com/api"


def test_example_several_resources():
    app = run_example("several-resources")["app"]
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as http:
        assert http.get(f"{WK}/notes").json()["resource_name"] == "Notes"
        assert http.get(f"{WK}/files").json()["resource_name"] == "Files"
        assert http.get(WK).json()["resource_name"] == "Notes"
        for path, resource in [("/notes", "notes"), ("/files", "files")]:
            response = http.get(path)
            assert response.status_code == 401
            challenge = read_bearer_challenge(response.headers["www-authenticate"])
            assert challenge.resource_metadata == f"https://mcp.example.com{WK}/{resource}"
            assert http.get(path, headers={"Authorization": "Bearer none"}).text == "hello"


def test_readme_example():
    namespace = docs.run_example(README["readme"], "<README example>")
    app = namespace["app"]
    assert isinstance(app, BearerAuth)
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as http:
        response = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 401
        challenge = read_bearer_challenge(response.headers["www-authenticate"])
        assert challenge.error is None
        assert challenge.scope == ("notes:read",)
        doc = http.get(f"{WK}/mcp").json()
        assert doc["authorization_servers"] == ["https://auth.example.com"]
        forged = http.post("/mcp", json={}, headers={"Authorization": "Bearer a.b.c"})
        assert forged.status_code == 401
        assert read_bearer_challenge(forged.headers["www-authenticate"]).error == "invalid_token"


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mcp-sdk", "fastmcp"])
async def test_s22_current_token_follows_each_request_of_a_stateful_session(name):
    app = run_example(name)["app"]
    with serve_asgi(app) as server:
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer read"}) as http:
            transport = streamable_http_client(server.url("/mcp"), http_client=http)
            async with Client(transport, mode="legacy") as client:  # one Mcp-Session-Id
                first = await client.call_tool("read_note", {"name": "a"})
                assert first.content[0].text == "a, read by user-read"
                http.headers["Authorization"] = "Bearer write"  # e.g. after a refresh
                second = await client.call_tool("read_note", {"name": "b"})
                assert second.content[0].text == "b, read by user-write"
