"""Attacks on the authorization bridge, each against the real thing on loopback (the bridge under
uvicorn, the real oidc-provider as the upstream IdP): open redirects, cross-client codes and
refresh tokens, PKCE downgrades, forged/replayed upstream ``state``, upstream errors and outages
mid-flow, unserved resources, scope escalation, XSS on the consent page, consent sharing, and a
restart on the same database (issue 13 "Bad input and attacks"; SECURITY D1-D5, confused deputy).
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.bridge import BridgeWorld, bridge_world
from tests.realas.fixtures import RealASFactory, pkce_pair

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def browser() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=20, trust_env=False) as http:  # keeps cookies
        yield http


async def register(http: httpx2.AsyncClient, w: BridgeWorld, **meta: Any) -> str:
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **meta}
    response = await http.post(f"{w.issuer}/register", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


def authorize_url(w: BridgeWorld, client_id: str, challenge: str | None, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "client-state",
        "resource": w.extra["resource"],
        "scope": "notes:read",
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
        **extra,
    }
    return f"{w.issuer}/authorize?{urlencode(query)}"


async def follow(
    http: httpx2.AsyncClient, url: str, *, stop: str = REDIRECT, hops: int = 12
) -> tuple[str, httpx2.Response]:
    """GET and follow redirects until one points at ``stop`` (not requested) or a page."""
    for _ in range(hops):
        response = await http.get(url)
        if response.status_code not in (302, 303):
            return url, response
        url = str(response.url.join(response.headers["location"]))
        if url.startswith(stop):
            return url, response
    raise AssertionError("too many redirects")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def approve(http: httpx2.AsyncClient, w: BridgeWorld, page: httpx2.Response) -> str:
    """Submit the bridge's consent form (approve) and follow to the client's redirect URI."""
    fields = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
    response = await http.post(
        f"{w.issuer}/consent", data={**fields, "decision": "approve"}, follow_redirects=False
    )
    assert response.status_code == 302, response.text
    url, _ = await follow(http, response.headers["location"])
    return url


async def code_flow(
    http: httpx2.AsyncClient, w: BridgeWorld, client_id: str, **extra: str
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    url, _ = await follow(http, authorize_url(w, client_id, challenge, **extra))
    params = query_of(url)
    assert "code" in params, params
    response = await http.post(
        f"{w.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "resource": w.extra["resource"],
        },
    )
    assert response.status_code == 200, response.text
    return {"code": params["code"], "verifier": verifier, **response.json()}


@pytest.fixture
def world(real_as_factory: RealASFactory, tmp_path: Path) -> Any:
    with bridge_world(real_as_factory, tmp_path) as w:
        yield w


@pytest.fixture
def consenting(real_as_factory: RealASFactory, tmp_path: Path) -> Any:
    with bridge_world(real_as_factory, tmp_path, auto_approve=False) as w:
        yield w


@pytest.mark.parametrize(
    "variant",
    [
        "http://127.0.0.1:9/cb/../evil",
        "http://127.0.0.1:9/cb?next=http://evil.example",
        "http://127.0.0.1:9/cb/extra",
        "http://127.0.0.1:9/CB",
        "https://127.0.0.1:9/cb",
        "http://evil.example/cb",
        "http://127.0.0.1.evil.example:9/cb",
        "http://127.0.0.1:9/cb#frag",
        "http://[127.0.0.1/cb",
        "http://127.0.0.1:99999/cb",
    ],
)
async def test_open_redirect_variants_get_an_error_page_never_a_redirect(
    world: BridgeWorld, variant: str
) -> None:
    """OAuth 2.1 §4.1.2.1, SECURITY D3: an unregistered redirect_uri is never redirected to."""
    async with browser() as http:
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        url = authorize_url(world, client_id, challenge, redirect_uri=variant)
        response = await http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text


async def test_code_and_refresh_token_of_client_a_are_refused_for_client_b(
    world: BridgeWorld,
) -> None:
    """OAuth 2.1 §4.1.3 / §4.3.1: codes and refresh tokens are bound to their client."""
    async with browser() as http:
        a = await register(http, world, client_name="A")
        b = await register(http, world, client_name="B")
        verifier, challenge = pkce_pair()
        url, _ = await follow(http, authorize_url(world, a, challenge))
        code = query_of(url)["code"]
        stolen = await http.post(
            f"{world.issuer}/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": b,
                  "redirect_uri": REDIRECT, "code_verifier": verifier},
        )  # fmt: skip
        assert stolen.status_code == 400
        assert stolen.json()["error"] == "invalid_grant"
        tokens = await code_flow(http, world, a)
        refreshed = await http.post(
            f"{world.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                  "client_id": b},
        )  # fmt: skip
        assert refreshed.status_code == 400
        assert refreshed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("pkce", ["missing", "plain"])
async def test_pkce_missing_or_plain_is_refused_before_the_upstream(
    world: BridgeWorld, pkce: str
) -> None:
    """OAuth 2.1 §4.1.1, SECURITY D2: S256 only; the upstream is never contacted."""
    async with browser() as http:
        client_id = await register(http, world)
        verifier, _ = pkce_pair()
        extra = {"code_challenge": verifier, "code_challenge_method": "plain"}
        url = authorize_url(world, client_id, None, **({} if pkce == "missing" else extra))
        response = await http.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    assert query_of(location)["error"] == "invalid_request"
    assert query_of(location)["iss"] == world.issuer


async def test_pkce_mismatch_at_the_token_endpoint_is_invalid_grant(world: BridgeWorld) -> None:
    async with browser() as http:
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        other_verifier, _ = pkce_pair()
        url, _ = await follow(http, authorize_url(world, client_id, challenge))
        response = await http.post(
            f"{world.issuer}/token",
            data={"grant_type": "authorization_code", "code": query_of(url)["code"],
                  "client_id": client_id, "redirect_uri": REDIRECT,
                  "code_verifier": other_verifier},
        )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_forged_and_replayed_upstream_state_and_another_browser_are_refused(
    world: BridgeWorld,
) -> None:
    """RFC 6749 §10.12: the upstream state is single use and bound to the browser."""
    async with browser() as http:
        forged = await http.get(f"{world.issuer}/callback?state=forged&code=x")
        assert forged.status_code == 400
        assert "unknown, expired or already finished" in forged.text
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        callback, _ = await follow(
            http, authorize_url(world, client_id, challenge), stop=f"{world.issuer}/callback"
        )
        async with browser() as other:  # the attacker's browser: no binding cookie
            stolen = await other.get(callback)
        assert stolen.status_code == 400
        assert "another browser" in stolen.text
        # the state was spent by that attempt: the victim's own browser cannot use it either
        replay = await http.get(callback)
        assert replay.status_code == 400
        # a genuine flow works, and its callback URL cannot be replayed afterwards
        callback, _ = await follow(
            http, authorize_url(world, client_id, challenge), stop=f"{world.issuer}/callback"
        )
        first = await http.get(callback)
        assert first.status_code == 302
        assert "code" in query_of(first.headers["location"])
        again = await http.get(callback)
        assert again.status_code == 400


async def test_upstream_refusal_reaches_the_client_as_access_denied_nothing_stored(
    world: BridgeWorld,
) -> None:
    """The launcher's login_hint=deny: the upstream answers access_denied mid-flow."""
    async with browser() as http:
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        url, _ = await follow(http, authorize_url(world, client_id, challenge, login_hint="deny"))
        params = query_of(url)
        assert params["error"] == "access_denied"
        assert "identity provider refused" in params["error_description"]
        assert params["state"] == "client-state"
        assert params["iss"] == world.issuer
        assert "zeroauth_bridge_session" not in http.cookies
    with pytest.raises(Exception, match="no upstream token"):
        await world.bridge.upstream_token({"sub": f"{world.upstream.issuer}#deny"})


async def test_upstream_outage_mid_flow_is_temporarily_unavailable(world: BridgeWorld) -> None:
    """The upstream dies after the user logged in, before the code is redeemed."""
    async with browser() as http:
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        callback, _ = await follow(
            http, authorize_url(world, client_id, challenge), stop=f"{world.issuer}/callback"
        )
        os.kill(world.upstream.pid, signal.SIGKILL)
        response = await http.get(callback)
        assert response.status_code == 302
        params = query_of(response.headers["location"])
        assert params["error"] == "temporarily_unavailable"
        assert "token endpoint failed" in params["error_description"]
        assert "zeroauth_bridge_session" not in http.cookies


async def test_upstream_down_before_login_is_temporarily_unavailable(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with bridge_world(real_as_factory, tmp_path) as w:
        os.kill(w.upstream.pid, signal.SIGKILL)
        async with browser() as http:
            client_id = await register(http, w)
            _, challenge = pkce_pair()
            response = await http.get(authorize_url(w, client_id, challenge))
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params["error"] == "temporarily_unavailable"
    assert "metadata could not be loaded" in params["error_description"]


async def test_a_resource_the_bridge_does_not_serve_is_invalid_target(world: BridgeWorld) -> None:
    """RFC 8707 §2, SECURITY D4."""
    async with browser() as http:
        client_id = await register(http, world)
        _, challenge = pkce_pair()
        url = authorize_url(world, client_id, challenge, resource="http://127.0.0.1:9/other")
        response = await http.get(url)
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_target"


async def test_scope_escalation_at_refresh_is_refused(world: BridgeWorld) -> None:
    """OAuth 2.1 §4.3.1: a refresh may narrow the scope, never widen it."""
    async with browser() as http:
        client_id = await register(http, world)
        tokens = await code_flow(http, world, client_id)
        assert tokens["scope"].split() == ["notes:read"]
        wider = await http.post(
            f"{world.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                  "client_id": client_id, "scope": "notes:read notes:write"},
        )  # fmt: skip
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


async def test_refresh_reuse_revokes_the_family(world: BridgeWorld) -> None:
    """OAuth 2.1 §4.3.1, SECURITY D5."""
    async with browser() as http:
        client_id = await register(http, world)
        tokens = await code_flow(http, world, client_id)
        form = {"grant_type": "refresh_token", "client_id": client_id,
                "refresh_token": tokens["refresh_token"]}  # fmt: skip
        first = await http.post(f"{world.issuer}/token", data=form)
        assert first.status_code == 200
        reuse = await http.post(f"{world.issuer}/token", data=form)
        assert reuse.json()["error"] == "invalid_grant"
        newest = {**form, "refresh_token": first.json()["refresh_token"]}
        after = await http.post(f"{world.issuer}/token", data=newest)
        assert after.json()["error"] == "invalid_grant"


async def test_xss_in_client_name_is_escaped_on_the_consent_page(consenting: BridgeWorld) -> None:
    """MCP security best practices (consent UI): the client's name is data, not markup."""
    w = consenting
    async with browser() as http:
        client_id = await register(http, w, client_name='<script>alert("x")</script><img src=x>')
        _, challenge = pkce_pair()
        _, page = await follow(http, authorize_url(w, client_id, challenge))
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert client_id in page.text
    assert 'name="subject"' not in page.text  # the user is whoever signs in upstream


async def test_consent_is_remembered_per_client_and_redirect_uri_never_shared(
    consenting: BridgeWorld,
) -> None:
    """Confused deputy: a session at the bridge (and at the upstream) never gives a second
    client, or the same client's other redirect URI, a code without the consent page."""
    w = consenting
    other_redirect = "http://127.0.0.1:9/other-cb"
    async with browser() as http:
        a = await register(http, w, client_name="A", redirect_uris=[REDIRECT, other_redirect])
        b = await register(http, w, client_name="B")
        _, challenge = pkce_pair()
        _, page = await follow(http, authorize_url(w, a, challenge))
        assert page.status_code == 200
        assert "Authorize" in page.text
        assert "code" in query_of(await approve(http, w, page))
        # the same client, redirect URI and scopes: no page, straight to the upstream and back
        url, response = await follow(http, authorize_url(w, a, challenge))
        assert "code" in query_of(url), response.text[:300]
        # another client: the page again
        _, page_b = await follow(http, authorize_url(w, b, challenge))
        assert page_b.status_code == 200
        assert "Authorize" in page_b.text
        # the same client with its other redirect URI: the page again
        _, page_other = await follow(
            http, authorize_url(w, a, challenge, redirect_uri=other_redirect), stop=other_redirect
        )
        assert page_other.status_code == 200
        assert "Authorize" in page_other.text
        # more scopes than consented: the page again
        _, page_wider = await follow(
            http, authorize_url(w, a, challenge, scope="notes:read notes:write")
        )
        assert page_wider.status_code == 200
    async with browser() as fresh:  # a browser without the bridge session: the page
        _, page_fresh = await follow(fresh, authorize_url(w, a, challenge))
        assert page_fresh.status_code == 200


async def test_denying_on_the_consent_page_is_access_denied(consenting: BridgeWorld) -> None:
    w = consenting
    async with browser() as http:
        client_id = await register(http, w)
        _, challenge = pkce_pair()
        _, page = await follow(http, authorize_url(w, client_id, challenge))
        fields = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
        denied = await http.post(f"{w.issuer}/consent", data={**fields, "decision": "deny"})
        assert denied.status_code == 302
        assert query_of(denied.headers["location"])["error"] == "access_denied"
        # the form is single use, and a form without its CSRF cookie is refused
        again = await http.post(f"{w.issuer}/consent", data={**fields, "decision": "approve"})
        assert again.status_code == 400
    async with browser() as attacker:
        forged = await attacker.post(f"{w.issuer}/consent", data={**fields, "decision": "approve"})
        assert forged.status_code == 400


async def test_restart_on_the_same_database_keeps_clients_refresh_and_upstream_tokens(
    world: BridgeWorld,
) -> None:
    async with browser() as http:
        client_id = await register(http, world)
        tokens = await code_flow(http, world, client_id)
        claims = world.bridge.core.key.verified_claims(tokens["access_token"])
        assert claims is not None
        before = await world.bridge.upstream_token(claims)
        world.restart()
        refreshed = await http.post(
            f"{world.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                  "client_id": client_id},
        )  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        # the same signing key: the old access token still verifies at the new bridge
        assert world.bridge.core.key.verified_claims(tokens["access_token"]) is not None
        assert await world.bridge.upstream_token(claims) == before
        # the registered client is still known: a new flow works without registering again
        assert "access_token" in await code_flow(http, world, client_id)


def _cimd_app(base_url: str, size: int = 0) -> Starlette:
    async def document(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": f"{base_url}/client.json",
                "client_name": "CIMD client" + "x" * size,
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        )

    return Starlette(routes=[Route("/client.json", document)])


async def test_a_cimd_client_gets_in_through_the_bridge(world: BridgeWorld) -> None:
    """MCP client registration: a Client ID Metadata Document (the preferred way)."""
    with serve_asgi(factory=_cimd_app) as cimd:
        async with browser() as http:
            tokens = await code_flow(http, world, cimd.url("/client.json"))
    assert tokens["token_type"] in ("Bearer", "DPoP")
    claims = world.bridge.core.key.verified_claims(tokens["access_token"])
    assert claims is not None
    assert claims["client_id"] == cimd.url("/client.json")
    assert claims["aud"] == world.extra["resource"]


async def test_a_huge_cimd_document_is_refused_with_an_error_page(world: BridgeWorld) -> None:
    """SSRF/size policy of the shared core's CIMD fetch: never a redirect, never the upstream."""
    with serve_asgi(factory=lambda base: _cimd_app(base, size=2_000_000)) as cimd:
        async with browser() as http:
            _, challenge = pkce_pair()
            url = authorize_url(world, cimd.url("/client.json"), challenge)
            response = await http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_upstream_tokens_never_reach_the_mcp_client(world: BridgeWorld) -> None:
    """MCP security best practices (token passthrough): the client gets the bridge's own
    RFC 9068 token (iss = the bridge, aud = the MCP resource), never an upstream token."""
    async with browser() as http:
        client_id = await register(http, world)
        tokens = await code_flow(http, world, client_id)
    assert set(tokens) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    assert "id_token" not in tokens
    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert header["typ"] == "at+jwt"
    assert claims["iss"] == world.issuer
    assert claims["aud"] == world.extra["resource"]
    assert claims["sub"].startswith(f"{world.upstream.issuer}#")
    assert claims["client_id"] == client_id
    upstream = await world.bridge.upstream_token(claims)
    assert upstream not in (tokens["access_token"], tokens["refresh_token"])


async def test_a_remembered_consent_survives_a_restart(consenting: BridgeWorld) -> None:
    w = consenting
    async with browser() as http:
        client_id = await register(http, w)
        _, challenge = pkce_pair()
        _, page = await follow(http, authorize_url(w, client_id, challenge))
        assert "code" in query_of(await approve(http, w, page))
        w.restart()
        url, response = await follow(http, authorize_url(w, client_id, challenge))
        assert "code" in query_of(url), response.text[:300]
