"""CORS for browser-based MCP clients, through uvicorn on loopback with the real httpx2 client.

Fetch Standard §3.2 (CORS protocol: §3.2.2 requests, §3.2.3 responses) and §4.8 (CORS-preflight
fetch: a preflight is sent without credentials, so it must never need them); MCP 2026-07-28
authorization (S-08, S-10: the 401 challenge a browser client must be able to read) and
streamable HTTP (``Mcp-Session-Id``, ``Mcp-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``,
``Last-Event-ID``). Issue 18: a preflight ``OPTIONS /mcp`` was answered 401 and the dev AS's
``/token`` and ``/register`` answered preflights 405.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.helpers.asgi_server import serve_asgi
from tests.integration.test_middleware import DictVerifier, EchoApp, bearer, call
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server import BearerAuth, ScopePolicy
from zeroauth.server._cors import MCP_REQUEST_HEADERS, CorsPolicy

AS = "https://as.example.com"
INSPECTOR = "http://localhost:6274"  # where the MCP Inspector's UI runs
EVIL = "https://evil.example"
WK = "/.well-known/oauth-protected-resource"


def preflight_headers(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    """What a browser sends before a non-simple request (Fetch §4.8 steps 1-4)."""
    found = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        found["Access-Control-Request-Headers"] = headers
    return found


def allowed_headers(response: httpx2.Response) -> set[str]:
    value = response.headers.get("access-control-allow-headers", "")
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def exposed(response: httpx2.Response) -> set[str]:
    value = response.headers.get("access-control-expose-headers", "")
    return {name.strip().lower() for name in value.split(",") if name.strip()}


class Protected:
    def __init__(self, base_url: str, app: EchoApp, verifier: DictVerifier) -> None:
        self.base_url = base_url
        self.app = app
        self.verifier = verifier


def _serve(resource: str | None = None, **options: Any) -> Any:
    app, verifier = EchoApp(), DictVerifier()
    holder: list[str] = []

    def factory(base_url: str) -> BearerAuth:
        holder.append(base_url)
        return BearerAuth(
            app,
            verifier=verifier,
            resource=resource or f"{base_url}/mcp",
            authorization_servers=[AS],
            scope_policy=ScopePolicy(required=["mcp:read"], tools={"write_note": ["mcp:write"]}),
            **options,
        )

    return serve_asgi(factory=factory), holder, app, verifier


@pytest.fixture(scope="module")
def loopback() -> Iterator[Protected]:
    """A resource on loopback with no CORS setting: loopback origins are allowed by default."""
    ctx, holder, app, verifier = _serve()
    with ctx:
        yield Protected(holder[0], app, verifier)


@pytest.fixture
def client(loopback: Protected) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=loopback.base_url, timeout=10) as c:
        yield c


# --- preflights: answered before authentication (Fetch §4.8) -----------------------------------


def test_fetch_4_8_preflight_is_never_401_and_allows_every_mcp_header(client, loopback):
    calls, seen = loopback.app.calls, len(loopback.verifier.seen)
    asked = (
        "authorization, content-type, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name"
    )
    response = client.options("/mcp", headers=preflight_headers(INSPECTOR, "POST", asked))
    assert response.status_code == 204  # an "ok status" (Fetch §4.8 step 7)
    assert response.headers["access-control-allow-origin"] == INSPECTOR
    assert "origin" in response.headers["vary"].lower()  # the answer depends on Origin
    assert {"get", "post", "delete"} <= {
        m.strip().lower() for m in response.headers["access-control-allow-methods"].split(",")
    }
    # listed by name: the "*" wildcard never covers Authorization (Fetch §3.2.3)
    assert {h.lower() for h in MCP_REQUEST_HEADERS} <= allowed_headers(response)
    assert {"dpop", "last-event-id"} <= allowed_headers(response)
    assert "www-authenticate" not in response.headers
    assert "access-control-allow-credentials" not in response.headers  # no cookies, ever
    assert int(response.headers["access-control-max-age"]) > 0
    # neither the app nor the verifier saw it (S-19 is about requests, not preflights)
    assert loopback.app.calls == calls
    assert len(loopback.verifier.seen) == seen


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:5173", "http://[::1]:6274", "http://localhost"]
)
def test_fetch_3_2_loopback_origins_are_allowed_for_a_loopback_resource(client, origin):
    response = client.options("/mcp", headers=preflight_headers(origin, "GET"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin", [EVIL, "http://localhost.evil.example:6274", "http://localhost:6274.evil.example"]
)
def test_fetch_3_2_other_origins_get_403_without_cors_headers(client, origin):
    response = client.options("/mcp", headers=preflight_headers(origin, "POST", "authorization"))
    assert response.status_code == 403  # refused, but never 401: nothing to authenticate
    assert "access-control-allow-origin" not in response.headers
    assert "www-authenticate" not in response.headers
    assert "CORS origins" in response.json()["error_description"]


def test_s10_options_without_preflight_headers_is_still_authenticated(client, loopback):
    """Only a real CORS-preflight request (OPTIONS + Origin + Access-Control-Request-Method)
    skips authentication; any other OPTIONS is a request like the others."""
    calls = loopback.app.calls
    for headers in ({}, {"Origin": INSPECTOR}, {"Access-Control-Request-Method": "POST"}):
        response = client.options("/mcp", headers=headers)
        assert response.status_code == 401, headers
        assert read_bearer_challenge(response.headers.get_list("www-authenticate")) is not None
    assert loopback.app.calls == calls


# --- actual responses: the challenge is readable (Fetch §3.2.3, S-08, S-10, S-15) -------------


def test_s10_a_browser_can_read_the_401_challenge(client):
    response = client.post("/mcp", content=call("read_note"), headers={"Origin": INSPECTOR})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == INSPECTOR
    assert {"www-authenticate", "mcp-session-id"} <= exposed(response)
    challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None
    assert challenge.resource_metadata == f"{client.base_url}{WK}/mcp"


def test_s15_a_browser_can_read_the_403_step_up_challenge(client):
    headers = {"Origin": INSPECTOR, **bearer("read-token")}
    response = client.post("/mcp", content=call("write_note"), headers=headers)
    assert response.status_code == 403
    assert response.headers["access-control-allow-origin"] == INSPECTOR
    assert "www-authenticate" in exposed(response)
    challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None
    assert challenge.error == "insufficient_scope"
    assert challenge.scope == ("mcp:read", "mcp:write")


def test_fetch_3_2_3_allowed_responses_carry_cors_others_do_not(client):
    ok = client.post(
        "/mcp", content=call("read_note"), headers={"Origin": INSPECTOR, **bearer("read-token")}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == INSPECTOR
    assert json.loads(ok.content)["subject"] == "user-read-token"
    evil = client.post(
        "/mcp", content=call("read_note"), headers={"Origin": EVIL, **bearer("read-token")}
    )
    assert evil.status_code == 200  # S-24 (rejecting an Origin) is the transport's job
    assert "access-control-allow-origin" not in evil.headers  # ...but a browser may not read it
    plain = client.post("/mcp", content=call("read_note"), headers=bearer("read-token"))
    assert "access-control-allow-origin" not in plain.headers  # non-browser clients: unchanged


def test_fetch_3_2_prm_preflight_through_bearer_auth(client):
    """The PRM document: public, any origin, before authentication (RFC 9728 §3, S-01)."""
    preflight = client.options(
        f"{WK}/mcp", headers=preflight_headers(EVIL, "GET", "mcp-protocol-version")
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    document = client.get(f"{WK}/mcp", headers={"Origin": EVIL})
    assert document.status_code == 200
    assert document.headers["access-control-allow-origin"] == "*"


# --- configuration ------------------------------------------------------------------------------


def test_fetch_3_2_a_public_resource_allows_no_origin_by_default():
    ctx, holder, _, _ = _serve(resource="https://mcp.example.com/mcp")
    with ctx, httpx2.Client(base_url=holder[0]) as c:
        response = c.options("/mcp", headers=preflight_headers(INSPECTOR))
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        refused = c.post("/mcp", headers={"Origin": INSPECTOR})
        assert refused.status_code == 401
        assert "access-control-allow-origin" not in refused.headers


def test_fetch_3_2_configured_origins_exact_wildcard_port_and_any():
    ctx, holder, _, _ = _serve(
        resource="https://mcp.example.com/mcp",
        cors_origins=["https://App.Example", "http://localhost:*"],
    )
    with ctx, httpx2.Client(base_url=holder[0]) as c:
        for origin, allowed in [
            ("https://app.example", True),
            ("https://app.example:8443", False),
            ("http://app.example", False),
            ("http://localhost:3000", True),
            ("http://127.0.0.1:3000", False),
        ]:
            response = c.options("/mcp", headers=preflight_headers(origin))
            assert (response.status_code == 204) is allowed, origin
    ctx, holder, _, _ = _serve(resource="https://mcp.example.com/mcp", cors_origins=["*"])
    with ctx, httpx2.Client(base_url=holder[0]) as c:
        response = c.options("/mcp", headers=preflight_headers(EVIL, "POST", "authorization"))
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "authorization" in allowed_headers(response)  # listed: "*" would not cover it
        assert (
            c.post("/mcp", headers={"Origin": EVIL}).headers["access-control-allow-origin"] == "*"
        )
    ctx, holder, _, _ = _serve(cors_origins=[])  # loopback resource, CORS turned off
    with ctx, httpx2.Client(base_url=holder[0]) as c:
        assert c.options("/mcp", headers=preflight_headers(INSPECTOR)).status_code == 403


@pytest.mark.parametrize(
    "origin", ["https://app.example/", "app.example", "https://app.example/path", "ftp://a.example"]
)
def test_cors_origins_that_are_not_origins_are_refused_at_construction(origin):
    with pytest.raises(ValueError, match="not an origin"):
        CorsPolicy([origin])


def test_fetch_3_2_3_an_app_answering_cors_itself_is_left_alone():
    async def app(scope, receive, send):
        headers = [(b"access-control-allow-origin", b"https://own.example")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    def factory(base_url: str) -> BearerAuth:
        return BearerAuth(app, verifier=DictVerifier(), resource=f"{base_url}/mcp",
                          authorization_servers=[AS])  # fmt: skip

    with serve_asgi(factory=factory) as served, httpx2.Client(base_url=served.base_url) as c:
        response = c.get("/mcp", headers={"Origin": INSPECTOR, **bearer("read-token")})
        assert response.headers.get_list("access-control-allow-origin") == ["https://own.example"]


# --- the dev authorization server -----------------------------------------------------------------


@pytest.fixture(scope="module", params=["", "/realms/dev"], ids=["root", "path"])
def dev_as(request, tmp_path_factory) -> Iterator[tuple[str, str]]:
    holder: list[str] = []
    path = request.param

    def factory(base_url: str) -> Any:
        holder.append(base_url)
        config = DevServerConfig(
            issuer=base_url + path,
            resources=[ProtectedResource("http://127.0.0.1:9/mcp", ("mcp:read",))],
            auto_approve=True,
            database=str(tmp_path_factory.mktemp("as") / "as.db"),
        )
        return DevAuthorizationServer(config).app()

    with serve_asgi(factory=factory):
        yield holder[0], path


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [
        ("/token", "POST"),
        ("/register", "POST"),
        ("/revoke", "POST"),
        ("/jwks", "GET"),
        ("WK-AS", "GET"),
        ("WK-OIDC", "GET"),
    ],
)
def test_fetch_4_8_dev_as_endpoints_answer_preflights(dev_as, endpoint, method):
    base, path = dev_as
    url = {
        "WK-AS": f"{base}/.well-known/oauth-authorization-server{path}",
        "WK-OIDC": f"{base}{path}/.well-known/openid-configuration",
    }.get(endpoint, f"{base}{path}{endpoint}")
    asked = "authorization, content-type, dpop, mcp-protocol-version"
    response = httpx2.options(url, headers=preflight_headers(INSPECTOR, method, asked))
    assert response.status_code == 204, response.text  # was 405 (issue 18)
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"]
    assert {"authorization", "content-type", "dpop"} <= allowed_headers(response)


def test_fetch_3_2_3_dev_as_token_errors_and_registration_are_readable(dev_as):
    base, path = dev_as
    origin = {"Origin": INSPECTOR}
    registered = httpx2.post(
        f"{base}{path}/register",
        json={"redirect_uris": ["http://localhost:6274/oauth/callback"],
              "token_endpoint_auth_method": "none"},
        headers=origin,
    )  # fmt: skip
    assert registered.status_code == 201
    assert registered.headers["access-control-allow-origin"] == "*"
    client_id = registered.json()["client_id"]
    refused = httpx2.post(
        f"{base}{path}/token",
        data={"grant_type": "password", "client_id": client_id},
        headers=origin,
    )
    assert refused.status_code == 400
    assert refused.headers["access-control-allow-origin"] == "*"
    assert refused.json()["error"]  # the OAuth error a browser client must read (RFC 6749 §5.2)


def test_fetch_3_2_dev_as_consent_is_no_cors_endpoint(dev_as):
    """The authorization endpoint is a top-level navigation and the consent decision a form:
    neither is offered to cross-origin scripts."""
    base, path = dev_as
    for endpoint in ("/authorize", "/authorize/decision"):
        response = httpx2.options(f"{base}{path}{endpoint}", headers=preflight_headers(INSPECTOR))
        assert "access-control-allow-origin" not in response.headers


def test_fetch_4_8_bridge_endpoints_answer_preflights_like_the_dev_as(tmp_path):
    """The bridge is the dev AS core with another login step: a browser-based MCP client can
    register and redeem codes there too (its token and registration endpoints answer
    preflights), and no CORS reaches its consent and callback pages."""
    import base64
    import secrets

    from zeroauth.bridge import AuthorizationBridge, BridgeConfig, Upstream

    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    def factory(base_url: str) -> Any:
        config = BridgeConfig(
            issuer=base_url,
            resources=(ProtectedResource("http://127.0.0.1:9/mcp", ("mcp:read",)),),
            upstream=Upstream(issuer="http://127.0.0.1:9/idp", client_id="b", client_secret="s"),
            database=str(tmp_path / "bridge.db"),
            encryption_key=key,
        )
        return AuthorizationBridge(config).app()

    with serve_asgi(factory=factory) as served:
        base = served.base_url
        for endpoint in ("/token", "/register"):
            response = httpx2.options(
                f"{base}{endpoint}", headers=preflight_headers(INSPECTOR, "POST", "content-type")
            )
            assert response.status_code == 204, (endpoint, response.text)
            assert response.headers["access-control-allow-origin"] == "*"
        consent = httpx2.options(
            f"{base}/consent", headers=preflight_headers(INSPECTOR, "POST", "content-type")
        )
        assert "access-control-allow-origin" not in consent.headers
