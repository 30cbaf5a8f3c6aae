"""End to end through the authorization bridge with upstreams shaped like real IdPs (issue 13
item 3; docs/realas.md "IdP shapes"): the Entra-like upstream (no DCR, OpenID-only discovery at
``/<tenant>/v2.0``, no PKCE member in its metadata, no RFC 9207 ``iss``, RFC 8707 ``resource``
rejected with AADSTS9010010, ``api://<app-id>/`` scopes, v2 tokens) and the Okta-like one
(``/oauth2/<id>``, ``scp`` array, ``cid``). MCP clients know only the MCP URL:

- the official ``mcp`` SDK client (DCR) and zeroauth's client (CIMD and DCR) get in, step up
  after ``403 insufficient_scope`` (MCP authorization, scope challenge handling), refresh
  (RFC 6749 section 6, rotation) and survive a bridge restart on the same SQLite file;
- the MCP server reads the user's upstream token through ``AuthorizationBridge.upstream_token``
  (the IdP's token, shaped as the IdP shapes it; never sent to the MCP client);
- with consent on, a second client in the same browser gets the bridge's consent page, not a
  silent code (MCP security best practices, confused deputy; SPEC G-10..G-16).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.bridge import BRIDGE_CLIENT, BridgeWorld, bridge_world
from tests.helpers.client_world import Lazy
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.realas.fixtures import ENTRA_APP_ID, ENTRA_TENANT, RealASFactory, pkce_pair
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

APP_ID_URI = f"api://{ENTRA_APP_ID}"
SHAPES: dict[str, dict[str, Any]] = {
    "entra": {
        "realas_switches": {"shape": "entra", "scopes": "notes.read notes.write"},
        "upstream_options": {
            "profile": "entra",
            "scopes": ("openid", "profile", "offline_access"),
            "scope_map": {
                "notes:read": f"{APP_ID_URI}/notes.read",
                "notes:write": f"{APP_ID_URI}/notes.write",
            },
            "resource": None,
        },
    },
    "okta": {
        "realas_switches": {"shape": "okta"},
        "upstream_options": {
            "profile": "okta",
            "scopes": ("openid", "offline_access"),
            "resource": None,
        },
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=list(SHAPES))
def shape(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@contextlib.contextmanager
def world(
    shape: str, factory: RealASFactory, tmp_path: Path, **config: Any
) -> Iterator[BridgeWorld]:
    options = SHAPES[shape]
    with bridge_world(
        factory,
        tmp_path,
        realas_switches={**options["realas_switches"], "verbose": True},
        upstream_options=dict(options["upstream_options"]),
        **config,
    ) as w:
        yield w


def zero_auth(**options: Any) -> ZeroAuth:
    return ZeroAuth(
        store=options.pop("store", MemoryTokenStore()),
        url_policy=DEVELOPMENT,
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        **options,
    )


def text(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


def check_upstream_token(shape: str, w: BridgeWorld, token: str) -> None:
    """The MCP server got the IdP's own access token for the user, shaped as that IdP's."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == w.upstream.issuer
    assert claims["sub"] == "alice"
    if shape == "entra":
        assert header["typ"] == "JWT"
        assert claims["aud"] == ENTRA_APP_ID
        assert claims["azp"] == BRIDGE_CLIENT
        assert claims["tid"] == ENTRA_TENANT
        assert "notes.read" in claims["scp"].split(" ")
    else:
        assert claims["cid"] == BRIDGE_CLIENT
        assert "notes:read" in claims["scp"]  # a JSON array


def upstream_never_saw_resource(shape: str, w: BridgeWorld) -> None:
    log = w.upstream.log()
    if shape == "entra":  # Entra rejects RFC 8707 resource: the bridge never sends it
        assert "resource=" not in log
        assert "invalid_target" not in log


async def test_official_sdk_client_gets_in_and_reads_the_upstream_token(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with world(shape, real_as_factory, tmp_path) as w:
        sdk = sdk_oauth_provider(w.mcp_url, "http://127.0.0.1:9/sdk-callback", "sdk via bridge")
        async with (
            httpx2.AsyncClient(auth=sdk.provider, timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
            upstream = text(await client.call_tool("upstream_token", {}))
        assert who.startswith(f"{w.upstream.issuer}#alice ")
        assert "notes:read" in who
        assert sdk.landed.get("iss") == w.issuer  # RFC 9207 from the bridge
        assert sdk.provider.context.client_info is not None  # DCR at the bridge
        check_upstream_token(shape, w, upstream)
        assert upstream not in str(sdk.provider.context.current_tokens)  # never to the client
        upstream_never_saw_resource(shape, w)


def _cimd_document(url: str, redirect_uri: str) -> dict[str, Any]:
    return {
        "client_id": url,
        "client_name": "zeroauth via bridge (CIMD)",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


@pytest.mark.parametrize("identity", ["cimd", "dcr"])
async def test_zeroauth_client_gets_in_with_cimd_and_dcr(
    shape: str, identity: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        w = stack.enter_context(world(shape, real_as_factory, tmp_path))
        options: dict[str, Any] = {}
        if identity == "cimd":
            doc_lazy = Lazy()
            doc_server = stack.enter_context(serve_asgi(doc_lazy))
            url = f"http://127.0.0.1:{doc_server.port}/client.json"  # loopback CIMD (dev)
            redirect_uri = "http://127.0.0.1:43118/callback"
            document = _cimd_document(url, redirect_uri)
            doc_lazy.inner = Starlette(
                routes=[Route("/client.json", lambda r: JSONResponse(document))]
            )
            options = {"cimd_url": url, "redirect_uri": redirect_uri}
        auth = zero_auth(**options)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            who = text(await client.call_tool("whoami", {}))
            upstream = text(await client.call_tool("upstream_token", {}))
        assert who.startswith(f"{w.upstream.issuer}#alice ")
        check_upstream_token(shape, w, upstream)
        registered = auth.store.load("client", w.issuer)
        if identity == "cimd":
            assert registered is None  # the URL is the client ID: nothing registered
        else:
            assert registered is not None
            assert registered["source"] == "dcr"
        upstream_never_saw_resource(shape, w)


async def test_step_up_after_insufficient_scope(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """write_note needs notes:write; the first token has notes:read (the 401's scope): 403
    insufficient_scope with scope=, the client re-authorizes through the bridge (and the bridge
    at the upstream, with the mapped upstream scope) and the call succeeds."""
    with world(shape, real_as_factory, tmp_path) as w:
        seen: list[int] = []

        async def record(response: httpx2.Response) -> None:
            seen.append(response.status_code)

        auth = zero_auth()
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30, event_hooks={"response": [record]}) as http,
            Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
        ):
            first = text(await client.call_tool("whoami", {}))
            assert "notes:write" not in first
            assert text(await client.call_tool("write_note", {"text": "x"})) == "saved x"
            after = text(await client.call_tool("whoami", {}))
        assert 403 in seen
        assert "notes:write" in after
        assert auth.engine.user_steps == 2
        upstream = w.upstream.log()
        written = f"{APP_ID_URI}/notes.write" if shape == "entra" else "notes:write"
        assert written.replace(":", "%3A").replace("/", "%2F") in upstream  # asked upstream
        upstream_never_saw_resource(shape, w)


async def test_refresh_and_bridge_restart_on_the_same_database(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """The client refreshes at the bridge (rotation) before and after a restart of the bridge
    on the same SQLite file: clients, refresh families and signing keys survive; the MCP server
    still reads the upstream token (sealed in the database, key from the configuration)."""
    with world(shape, real_as_factory, tmp_path) as w:
        ahead = [0.0]
        auth = zero_auth(clock=lambda: time.time() + ahead[0])
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                text(await client.call_tool("whoami", {}))
            key = f"{w.issuer} {w.mcp_url}"
            first = auth.store.load("tokens", key)
            assert first is not None
            ahead[0] += 3590  # the client's clock: the bridge token is about to expire
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                text(await client.call_tool("whoami", {}))
            second = auth.store.load("tokens", key)
            assert second is not None
            assert second["refresh_token"] != first["refresh_token"]
            w.restart()  # a new bridge process, as far as state goes
            ahead[0] += 3590
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                who = text(await client.call_tool("whoami", {}))
                upstream = text(await client.call_tool("upstream_token", {}))
            third = auth.store.load("tokens", key)
            assert third is not None
            assert third["refresh_token"] != second["refresh_token"]
        assert who.startswith(f"{w.upstream.issuer}#alice ")
        check_upstream_token(shape, w, upstream)
        assert auth.engine.user_steps == 1  # refreshed twice, never re-authorized
        assert auth.engine.transport.sent["refresh"] == 2


def _consent_page(browser: httpx2.Client, w: BridgeWorld, client_id: str, redirect: str) -> Any:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "notes:read",
        "state": "st-" + client_id[-6:],
        "resource": w.mcp_url,
    }
    return browser.get(f"{w.issuer}/authorize?{urlencode(query)}")


def _register(http: httpx2.Client, w: BridgeWorld, name: str, redirect: str) -> str:
    response = http.post(
        f"{w.issuer}/register",
        json={"client_name": name, "redirect_uris": [redirect], "token_endpoint_auth_method":
              "none", "grant_types": ["authorization_code", "refresh_token"]},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _approve(browser: httpx2.Client, page: httpx2.Response, redirect: str) -> dict[str, str]:
    """Submit the consent form (approve) and follow the upstream login back to ``redirect``."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])  # type: ignore[index]
    response = browser.post(action, data={**fields, "decision": "approve"})
    for _ in range(12):
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        location = str(response.url.join(response.headers["location"]))
        if location.startswith(redirect):
            return dict(httpx2.URL(location).params)
        response = browser.get(location)
    raise AssertionError("never came back to the redirect URI")


def test_a_second_client_gets_the_consent_screen(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """auto_approve off: client A is approved and the user is logged in at the bridge and the
    upstream (cookies in this browser); client B, another redirect URI, in the same browser,
    still gets the consent page naming B, its redirect host, the resource and scopes, framing
    forbidden; A again with the same redirect URI and scopes goes straight to the upstream."""
    with (
        world(shape, real_as_factory, tmp_path, auto_approve=False) as w,
        httpx2.Client(trust_env=False, timeout=30) as browser,
    ):
        redirect_a, redirect_b = "http://127.0.0.1:9/a-callback", "http://127.0.0.1:9/b-callback"
        client_a = _register(browser, w, "Client A", redirect_a)
        client_b = _register(browser, w, "Evil <b>B</b>", redirect_b)
        page = _consent_page(browser, w, client_a, redirect_a)
        assert page.status_code == 200
        landed = _approve(browser, page, redirect_a)
        assert "code" in landed
        assert landed["iss"] == w.issuer
        page_b = _consent_page(browser, w, client_b, redirect_b)
        assert page_b.status_code == 200, page_b.text[:300]  # a page, never a silent code
        assert "location" not in page_b.headers
        body = page_b.text
        assert client_b in body
        assert "Evil &lt;b&gt;B&lt;/b&gt;" in body  # escaped (XSS in client_name)
        assert "<b>B</b>" not in body
        assert "127.0.0.1" in body
        assert w.mcp_url in body
        assert "notes:read" in body
        csp = page_b.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp or page_b.headers.get("x-frame-options") == "DENY"
        again = _consent_page(browser, w, client_a, redirect_a)  # remembered for A only
        assert again.status_code == 302
        assert again.headers["location"].startswith(w.upstream.issuer)


def test_zeroauth_cli_calls_through_the_bridge(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``zeroauth call <MCP URL> <tool>`` (headless) knowing only the URL, then a tool beyond
    its first token's scopes: the CLI steps up through the bridge."""
    from typer.testing import CliRunner

    from zeroauth.cli.app import app

    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    dev = ["--headless", "--allow-loopback"]
    with world(shape, real_as_factory, tmp_path) as w:
        runner = CliRunner()
        who = runner.invoke(app, ["call", w.mcp_url, "whoami", *dev])
        assert who.exit_code == 0, who.output
        assert who.stdout.startswith(f"{w.upstream.issuer}#alice ")
        wrote = runner.invoke(app, ["call", w.mcp_url, "write_note", "--arg", "text=cli", *dev])
        assert wrote.exit_code == 0, wrote.output
        assert wrote.stdout.strip() == "saved cli"
        token = runner.invoke(app, ["token", w.mcp_url, *dev]).stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == w.issuer  # the bridge's token, never the upstream's
    assert claims["aud"] == w.mcp_url
    assert {"notes:read", "notes:write"} <= set(claims["scope"].split())


def test_doctor_reports_all_pass_for_a_bridged_server(
    shape: str, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """``zeroauth doctor`` pointed at the MCP server behind the bridge: every check passes
    (the bridge is a full MCP authorization server whatever the upstream cannot do)."""
    from zeroauth.cli.doctor import DoctorOptions, diagnose

    with world(shape, real_as_factory, tmp_path) as w:
        report = diagnose(w.mcp_url, DoctorOptions(policy=DEVELOPMENT))
    bad = [(c.id, c.status, c.found, c.fix) for c in report.checks if c.status in ("warn", "fail")]
    assert bad == []
    assert report.ok
    assert report.counts()["pass"] >= 25
