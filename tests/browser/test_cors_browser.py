"""CORS as a real browser enforces it: headless Chromium fetching from another origin.

What a browser-based MCP client (the MCP Inspector at ``http://localhost:6274``) does, from a page
on a loopback origin: call the protected MCP endpoint with the MCP headers (the browser sends a
CORS preflight first, without credentials: Fetch Standard §4.8), read the 401 and 403 challenges
(``WWW-Authenticate`` exposed: Fetch §3.2.3; S-10, S-15), and register at and call the dev AS
(issue 18). A page on a non-loopback origin (``evil.test``, resolved to 127.0.0.1 by Chromium)
is refused by the browser itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.integration.test_middleware import DictVerifier, EchoApp
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server import BearerAuth, ScopePolicy

SCRIPT = """async ([mcp, as]) => {
  const out = {};
  const mcpHeaders = (token, tool) => ({
    "Content-Type": "application/json", "Mcp-Protocol-Version": "2025-11-25",
    "Mcp-Method": "tools/call", "Mcp-Name": tool,
    ...(token ? {"Authorization": "Bearer " + token} : {}),
  });
  const body = (tool) => JSON.stringify(
    {jsonrpc: "2.0", id: 1, method: "tools/call", params: {name: tool}});
  try {
    let r = await fetch(mcp, {method: "POST", headers: mcpHeaders(null, "read_note"),
                              body: body("read_note")});
    out.unauthenticated = [r.status, r.headers.get("www-authenticate")];
    r = await fetch(mcp, {method: "POST", headers: mcpHeaders("read-token", "write_note"),
                          body: body("write_note")});
    out.stepUp = [r.status, r.headers.get("www-authenticate")];
    r = await fetch(mcp, {method: "POST", headers: mcpHeaders("read-token", "read_note"),
                          body: body("read_note")});
    out.ok = [r.status, (await r.json()).subject];
    r = await fetch(as + "/register", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({redirect_uris: ["http://localhost:6274/oauth/callback"],
                            token_endpoint_auth_method: "none"})});
    const client = await r.json();
    out.register = [r.status, client.client_id ? "client_id" : null];
    r = await fetch(as + "/token", {method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded", "DPoP": "x.y.z"},
      body: "grant_type=authorization_code&code=nope&client_id=" + client.client_id});
    out.token = [r.status, (await r.json()).error];
  } catch (e) {
    out.error = String(e);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    page_app = Starlette(routes=[Route("/", lambda request: HTMLResponse("<p>client</p>"))])
    policy = ScopePolicy(required=["mcp:read"], tools={"write_note": ["mcp:write"]})

    def resource(base: str) -> BearerAuth:
        return BearerAuth(
            EchoApp(),
            verifier=DictVerifier(),
            resource=f"{base}/mcp",
            authorization_servers=["https://as.example"],
            scope_policy=policy,
        )

    def dev_as(base: str) -> Any:
        config = DevServerConfig(
            issuer=base, resources=[ProtectedResource("http://127.0.0.1:9/mcp", ("mcp:read",))]
        )
        return DevAuthorizationServer(config).app()

    with (
        serve_asgi(page_app) as page,
        serve_asgi(factory=resource) as mcp,
        serve_asgi(factory=dev_as) as auth,
    ):
        yield {"page_port": str(page.port), "mcp": mcp.url("/mcp"), "as": auth.base_url}


def run(page: Any, origin: str, servers: dict[str, str]) -> dict[str, Any]:
    page.goto(f"{origin}:{servers['page_port']}/")
    found: dict[str, Any] = page.evaluate(SCRIPT, [servers["mcp"], servers["as"]])
    return found


def test_fetch_4_8_a_loopback_page_calls_the_server_and_reads_its_challenges(page, servers):
    found = run(page, "http://localhost", servers)
    assert "error" not in found, found
    status, challenge = found["unauthenticated"]
    assert status == 401
    assert "resource_metadata=" in challenge  # readable: WWW-Authenticate is exposed
    status, challenge = found["stepUp"]
    assert status == 403
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:read mcp:write"' in challenge
    assert found["ok"] == [200, "user-read-token"]
    assert found["register"] == [201, "client_id"]  # dev AS /register: was a 405 preflight
    assert found["token"][0] == 400  # the OAuth error body is readable (RFC 6749 §5.2)


def test_fetch_3_2_a_page_on_another_origin_is_refused_by_the_browser(page, servers):
    found = run(page, "http://evil.test", servers)
    assert "Failed to fetch" in found.get("error", ""), json.dumps(found)
