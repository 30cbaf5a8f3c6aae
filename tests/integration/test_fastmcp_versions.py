"""SECURITY B15 (and B8): per-tool scopes cover exactly the FastMCP component that runs.

A FastMCP tool can have several versions under one name; a ``tools/call`` picks one with
``params._meta.fastmcp.version`` (FastMCP's extension of MCP's ``_meta``), and an app tool can be
called by its hashed backend name. The HTTP layer (``BearerAuth``, 403 ``insufficient_scope``,
RFC 6750 §3.1) must check the scopes of the component FastMCP will execute, resolved the way
FastMCP resolves it; a second check inside FastMCP's middleware chain refuses (JSON-RPC error,
tool never run) whenever the HTTP layer's view differs from what actually runs. A real FastMCP
server under uvicorn on loopback, the real httpx2 client and FastMCP's own client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp import FastMCP
from fastmcp.apps.app import FastMCPApp
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.server.providers.addressing import hashed_backend_name
from fastmcp.utilities.versions import VersionSpec
from mcp.shared.exceptions import MCPError

from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidToken
from zeroauth.integrations.fastmcp import protect
from zeroauth.server._middleware import BearerAuth
from zeroauth.server._scopes import ScopePolicy, requires_scopes
from zeroauth.server._verifier import AccessToken

AS = "https://as.example.com"
TOKENS = {
    "read": {"notes:read"},
    "write": {"notes:read", "notes:write"},
    "admin": {"notes:read", "notes:write", "notes:admin"},
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-06-18",
}
SECRET = hashed_backend_name("ui", "secret")


class DictVerifier:
    """A TokenVerifier over a fixed table (these tests are about scopes, not JWTs)."""

    async def verify(self, token: str) -> AccessToken:
        scopes = TOKENS.get(token)
        if scopes is None:
            raise InvalidToken("signature verification failed")
        return AccessToken(
            issuer=AS,
            subject=f"user-{token}",
            client_id="c1",
            audience=("x",),
            scopes=frozenset(scopes),
            expires_at=None,
        )


def build_server(ran: list[str]) -> FastMCP:
    """``notes`` v1 needs notes:write, v2 (the highest) only the global notes:read; an app
    tool ``secret`` needs notes:admin and is callable by its hashed name."""
    server = FastMCP("versions")

    @server.tool(name="notes", version="1")
    @requires_scopes("notes:write")
    def notes_v1() -> str:
        ran.append("v1")
        return "v1"

    @server.tool(name="notes", version="2")
    def notes_v2() -> str:
        ran.append("v2")
        return "v2"

    @server.tool
    def ping() -> str:
        ran.append("ping")
        return "pong"

    app = FastMCPApp("ui")

    @app.tool
    @requires_scopes("notes:admin")
    def secret() -> str:
        ran.append("secret")
        return "secret"

    server.add_provider(app)
    return server


@dataclass
class Served:
    url: str
    server: FastMCP
    ran: list[str] = field(default_factory=list)


def _options(base_url: str) -> dict[str, Any]:
    return {
        "verifier": DictVerifier(),
        "resource": f"{base_url}/mcp",
        "authorization_servers": [AS],
        "required_scopes": ["notes:read"],
        "stateless_http": True,
        "json_response": True,
    }


@pytest.fixture
def served() -> Iterator[Served]:
    ran: list[str] = []
    server = build_server(ran)
    with serve_asgi(factory=lambda base: protect(server, **_options(base))) as app:
        yield Served(app.url("/mcp"), server, ran)


def _call(params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


def post(served: Served, token: str, body: object) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    return httpx2.post(served.url, content=content, headers=headers, timeout=20)


def assert_insufficient_scope(response: httpx2.Response, scope: tuple[str, ...]) -> None:
    # RFC 6750 §3.1: insufficient_scope is 403, and names what the operation needs (S-15/S-16)
    assert response.status_code == 403, response.text
    challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None
    assert challenge.error == "insufficient_scope"
    assert challenge.scope == scope


def tool_text(response: httpx2.Response) -> str:
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is False, result
    text: str = result["content"][0]["text"]
    return text


V1 = {"fastmcp": {"version": "1"}}


def test_b15_b8_read_token_calling_v1_gets_403_and_v1_never_runs(served):
    response = post(served, "read", _call({"name": "notes", "arguments": {}, "_meta": V1}))
    assert_insufficient_scope(response, ("notes:read", "notes:write"))
    assert served.ran == []


def test_b15_write_token_runs_v1_and_read_token_runs_the_highest_version(served):
    assert tool_text(post(served, "write", _call({"name": "notes", "_meta": V1}))) == "v1"
    assert tool_text(post(served, "read", _call({"name": "notes"}))) == "v2"
    assert served.ran == ["v1", "v2"]


@pytest.mark.parametrize("spelling", ["v1", "1.0", "1.0.0", "V1"])
def test_b15_other_spellings_of_v1_are_checked_as_v1(served, spelling):
    """FastMCP matches versions PEP 440-normalized and ``v``-prefix insensitive."""
    meta = {"fastmcp": {"version": spelling}}
    response = post(served, "read", _call({"name": "notes", "_meta": meta}))
    assert_insufficient_scope(response, ("notes:read", "notes:write"))
    assert served.ran == []


def test_b15_hashed_backend_name_is_checked_as_the_tool_it_runs(served):
    response = post(served, "read", _call({"name": SECRET}))
    assert_insufficient_scope(response, ("notes:read", "notes:admin"))
    assert served.ran == []
    assert tool_text(post(served, "admin", _call({"name": SECRET}))) == "secret"


@pytest.mark.parametrize(
    "body",
    [
        # the version given twice: parsers disagree on which wins, so the request is refused
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes",'
        b'"_meta":{"fastmcp":{"version":"2","version":"1"}}}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes",'
        b'"_meta":{"fastmcp":{"version":"2"}},"_meta":{"fastmcp":{"version":"1"}}}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes",'
        b'"_meta":{"fastmcp":{"version":"2"},"fastmcp":{"version":"1"}}}}',
    ],
    ids=["version-twice", "meta-twice", "fastmcp-twice"],
)
def test_b15_duplicate_version_members_are_refused(served, body):
    response = post(served, "read", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert served.ran == []


def test_b15_escaped_member_names_are_read_as_fastmcp_reads_them(served):
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes",'
        b'"\\u005fmeta":{"fast\\u006dcp":{"\\u0076ersion":"\\u0031"}}}}'
    )
    assert_insufficient_scope(post(served, "read", body), ("notes:read", "notes:write"))
    assert served.ran == []


@pytest.mark.parametrize(
    "meta",
    [
        {"fastmcp": {"version": 1}},
        {"fastmcp": {"version": {"eq": "1"}}},
        {"fastmcp": {"version": ["1"]}},
        {"fastmcp": {"version": ""}},
        {"fastmcp": "1"},
        {"fastmcp": None},
    ],
)
def test_b15_unusable_versions_mean_the_highest_version_as_in_fastmcp(served, meta):
    """FastMCP ignores a non-string or empty version: the highest version runs, and is what
    the HTTP layer checked."""
    assert tool_text(post(served, "read", _call({"name": "notes", "_meta": meta}))) == "v2"
    assert served.ran == ["v2"]


def test_b15_a_version_that_does_not_exist_runs_nothing(served):
    meta = {"fastmcp": {"version": "9"}}
    response = post(served, "read", _call({"name": "notes", "_meta": meta}))
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "Unknown tool: 'notes'"
    assert served.ran == []


@pytest.mark.parametrize(
    "params", [{"name": "notes", "arguments": 5}, {"name": "notes", "_meta": 5}]
)
def test_b15_malformed_call_params_get_fastmcps_own_error(served, params):
    """FastMCP answers these before its tools/call pass (with the raw params): never a crash."""
    response = post(served, "read", _call(params))
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32602
    assert served.ran == []


def test_b15_batch_checks_every_call(served):
    batch = [_call({"name": "notes"}), {**_call({"name": "notes", "_meta": V1}), "id": 2}]
    assert_insufficient_scope(post(served, "read", batch), ("notes:read", "notes:write"))
    assert served.ran == []


class BearerRecorder(httpx2.Auth):
    """Sends a Bearer token; records the status and challenge of every response."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seen: list[tuple[int, list[str]]] = []

    def auth_flow(self, request: httpx2.Request) -> Iterator[httpx2.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        self.seen.append((response.status_code, response.headers.get_list("www-authenticate")))


@pytest.mark.anyio
async def test_b15_fastmcp_client_asking_for_v1_is_refused(served):
    """FastMCP's own client, ``call_tool(..., version="1")``: the attack as a client sends it."""
    read = BearerRecorder("read")
    with pytest.raises(MCPError):
        async with FastMCPClient(StreamableHttpTransport(served.url, auth=read)) as client:
            await client.call_tool("notes", {}, version="1")
    status, values = next(seen for seen in read.seen if seen[0] >= 400)
    assert status == 403
    challenge = read_bearer_challenge(values)
    assert challenge is not None
    assert challenge.error == "insufficient_scope"
    assert challenge.scope == ("notes:read", "notes:write")
    assert served.ran == []
    write = BearerRecorder("write")
    async with FastMCPClient(StreamableHttpTransport(served.url, auth=write)) as client:
        assert (await client.call_tool("notes", {}, version="1")).data == "v1"
    assert served.ran == ["v1"]


# --- the execution-layer check (HTTP layer bypassed or out of date) -------------------------


def test_b15_execution_layer_refuses_when_the_http_layer_does_not_check_tools():
    """The FastMCP app served behind a BearerAuth that only checks the global scope (as if
    the HTTP-layer check were bypassed): the tool call is refused inside FastMCP."""
    ran: list[str] = []
    server = build_server(ran)

    def factory(base: str) -> Any:
        options = _options(base)
        protect(server, **options)  # installs the FastMCP middleware
        inner = server.http_app(path="/mcp", stateless_http=True, json_response=True)
        return BearerAuth(
            inner,
            verifier=options["verifier"],
            resource=options["resource"],
            authorization_servers=options["authorization_servers"],
            scope_policy=ScopePolicy(required=["notes:read"]),
        )

    with serve_asgi(factory=factory) as app:
        target = Served(app.url("/mcp"), server, ran)
        response = post(target, "read", _call({"name": "notes", "_meta": V1}))
        assert response.status_code == 200
        error = response.json()["error"]
        assert error["code"] == -32003
        assert "insufficient_scope" in error["message"]
        assert "notes:write" in error["message"]
        assert ran == []
        response = post(target, "read", _call({"name": SECRET}))
        assert response.json()["error"]["code"] == -32003
        assert ran == []
        assert tool_text(post(target, "write", _call({"name": "notes", "_meta": V1}))) == "v1"


def test_b15_execution_layer_refuses_when_the_http_layers_cached_view_is_stale(served):
    """The HTTP layer caches a tool's scopes by name for ``tool_cache_ttl``; a version added
    at run time is what FastMCP runs at once. The execution layer checks what runs."""
    assert tool_text(post(served, "read", _call({"name": "notes"}))) == "v2"  # cached: v2

    @served.server.tool(name="notes", version="3")
    @requires_scopes("notes:admin")
    def notes_v3() -> str:
        served.ran.append("v3")
        return "v3"

    response = post(served, "read", _call({"name": "notes"}))
    error = response.json()["error"]
    assert error["code"] == -32003
    assert "notes:admin" in error["message"]
    assert served.ran == ["v2"]


@pytest.mark.anyio
async def test_b15_in_process_calls_without_a_token_cannot_run_scoped_versions():
    """No HTTP request, no token: FastMCP's own call path (the wrapped handler) refuses a
    scoped version and runs an unscoped tool."""
    ran: list[str] = []
    server = build_server(ran)
    protect(server, **_options("http://127.0.0.1:9"))
    with pytest.raises(MCPError) as refused:
        await server.call_tool("notes", {}, version=VersionSpec(eq="1"))
    assert refused.value.error.code == -32003
    with pytest.raises(MCPError):
        await server.call_tool(SECRET, {})
    assert ran == []
    assert (await server.call_tool("notes", {})).structured_content == {"result": "v2"}
    assert ran == ["v2"]


@pytest.mark.parametrize(
    "meta",
    [
        None,
        "1",
        [],
        {},
        {"fastmcp": {"version": "1"}},
        {"fastmcp": {"version": "v2.0"}},
        {"fastmcp": {"version": ""}},
        {"fastmcp": {"version": 1}},
        {"fastmcp": {"version": None}},
        {"fastmcp": {"version": {"eq": "1"}}},
        {"fastmcp": {"version": {"gte": "1", "lt": "2"}}},
        {"fastmcp": []},
        {"fastmcp": "x"},
        {"other": {"version": "1"}},
    ],
)
def test_b15_wire_version_is_fastmcps_own_reading(meta):
    """Differential: the HTTP layer reads ``_meta`` exactly as FastMCP's tools/call handler."""
    from fastmcp.server.mixins.mcp_operations import _version_from_ctx

    from zeroauth.integrations.fastmcp import wire_version

    params: dict[str, Any] = {"name": "notes"} if meta is None else {"name": "notes", "_meta": meta}
    ctx: Any = SimpleNamespace(params=params)
    assert wire_version(params.get("_meta")) == _version_from_ctx(ctx)
