"""Two bridge replicas behind a round-robin load balancer on loopback, sharing only Redis and the
upstream IdP (the real oidc-provider) (fleet issue: "2 bridge replicas behind a small
round-robin load balancer, where a login started on one replica completes on another and a
refresh on any replica works"). Each request of the browser goes to the other replica:

- the authorization request on A shows the consent page, the consent is posted to B (the CSRF
  secret and the single-use form are shared; SPEC G-10…G-16 confused-deputy consent), the
  upstream callback lands on A or B: the ``state`` (single use, RFC 6749 §10.12) and the
  browser-binding cookie are checked by whichever replica gets it;
- the code from one is redeemed at the other (OAuth 2.1 §4.1.3), a refresh works on either,
  reuse of a rotated refresh token at the other replica revokes the family (OAuth 2.1 §4.3.1,
  RFC 9700 §4.14.2, SECURITY D5);
- the user's upstream token (sealed in Redis) is available from either replica, and the JWKS is
  identical on both (one active key, RFC 7517).
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest
import redis

from tests.helpers.bridge_replicas import RESOURCE, BridgeReplicas, bridge_replicas
from tests.realas.fixtures import RealASFactory, pkce_pair

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def follow(http: httpx2.AsyncClient, url: str) -> tuple[str, httpx2.Response]:
    """GET and follow redirects until one points at the client's redirect URI, or a page."""
    for _ in range(12):
        response = await http.get(url)
        if response.status_code not in (302, 303):
            return url, response
        url = str(response.url.join(response.headers["location"]))
        if url.startswith(REDIRECT):
            return url, response
    raise AssertionError("too many redirects")


async def login(http: httpx2.AsyncClient, w: BridgeReplicas) -> dict[str, Any]:
    """Register, authorize (consent page), approve, upstream login, callback, redeem."""
    reg = await http.post(f"{w.issuer}/register", json={
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
        "client_name": "replica test"})  # fmt: skip
    assert reg.status_code == 201, reg.text
    client_id = reg.json()["client_id"]
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
             "state": "client-state", "resource": RESOURCE, "scope": "notes:read",
             "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    page = await http.get(f"{w.issuer}/authorize?{urlencode(query)}")
    assert page.status_code == 200, page.text  # the bridge's consent page
    found = re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
    fields = {name: html.unescape(value) for name, value in found}
    decision = await http.post(f"{w.issuer}/consent", data={**fields, "decision": "approve"})
    assert decision.status_code == 302, decision.text  # to the upstream
    replay = await http.post(f"{w.issuer}/consent", data={**fields, "decision": "approve"})
    assert replay.status_code >= 400  # the form is single use on every replica
    url, _ = await follow(http, decision.headers["location"])
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert "code" in params, (url, params)
    assert params["iss"] == w.issuer  # RFC 9207
    token = await http.post(f"{w.issuer}/token", data={
        "grant_type": "authorization_code", "code": params["code"], "client_id": client_id,
        "redirect_uri": REDIRECT, "code_verifier": verifier, "resource": RESOURCE})  # fmt: skip
    assert token.status_code == 200, token.text
    return {"client_id": client_id, **token.json()}


def served(w: BridgeReplicas, path: str) -> list[int]:
    return [replica for p, replica in w.balancer.log if p == path]


async def refresh(http: httpx2.AsyncClient, w: BridgeReplicas, client_id: str, token: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return await http.post(f"{w.issuer}/token", data=form)


async def test_a_login_hops_between_replicas_and_refresh_and_upstream_token_work_on_both(
    real_as_factory: RealASFactory, redis_url: str, redis_prefix: str
) -> None:
    async with (
        bridge_replicas(real_as_factory, redis_url, redis_prefix, auto_approve=False) as w,
        httpx2.AsyncClient(timeout=30, trust_env=False) as http,
    ):
        first = await login(http, w)
        await http.get(f"{w.issuer}/.well-known/oauth-authorization-server")  # shift the turn
        second = await login(http, w)
        # every step of a login was served by the other replica than the step before it
        authorize, consent = served(w, "/authorize"), served(w, "/consent")
        assert [a != c for a, c in zip(authorize, consent[::2], strict=True)] == [True, True]
        assert set(served(w, "/callback")) == {0, 1}  # a callback on each replica
        assert set(served(w, "/token")) == {0, 1}
        # refresh on either replica; reuse of the rotated token at the other revokes the family
        client_id, old = first["client_id"], first["refresh_token"]
        rotated = await refresh(http, w, client_id, old)
        assert rotated.status_code == 200, rotated.text
        replica = w.balancer.order[-1]
        again = await refresh(http, w, client_id, rotated.json()["refresh_token"])
        assert again.status_code == 200, again.text
        assert w.balancer.order[-1] != replica
        reuse = await refresh(http, w, client_id, rotated.json()["refresh_token"])
        assert reuse.status_code == 400
        assert reuse.json()["error"] == "invalid_grant"
        newest = await refresh(http, w, client_id, again.json()["refresh_token"])
        assert newest.status_code == 400
        assert newest.json()["error"] == "invalid_grant"
        # the other login's family is untouched, on both replicas
        for _ in range(2):
            other = await refresh(http, w, second["client_id"], second["refresh_token"])
            assert other.status_code == 200, other.text
            second["refresh_token"] = other.json()["refresh_token"]
        # one JWKS, served identically; every token (minted by either) verifies with it
        jwks = [(await http.get(f"{url}/jwks")).json() for url in w.urls]
        assert jwks[0] == jwks[1]
        keys = jwt.PyJWKSet.from_dict(jwks[0])
        claims = []
        for token in (first["access_token"], second["access_token"],
                      again.json()["access_token"]):  # fmt: skip
            kid = jwt.get_unverified_header(token)["kid"]
            claims.append(jwt.decode(token, keys[kid].key, algorithms=["ES256"],
                                     audience=RESOURCE, issuer=w.issuer))  # fmt: skip
        assert len({c["sub"] for c in claims}) == 1  # one upstream user
        # the user's upstream token, sealed in Redis, from either replica (in-process API)
        upstream = [await bridge.upstream_token(claims[0]) for bridge in w.bridges]
        assert upstream[0] == upstream[1]
        assert jwt.decode(upstream[0], options={"verify_signature": False})["iss"] == (
            w.upstream.issuer
        )
        raw = redis.Redis.from_url(redis_url)
        try:
            names = list(raw.scan_iter(f"{{{redis_prefix}}}:*"))
            dumped = b"".join(raw.dump(name) or b"" for name in names)
        finally:
            raw.close()
        assert upstream[0].encode() not in dumped  # sealed at rest (AES-256-GCM)
        assert b"PRIVATE KEY" not in dumped
        assert all(name.startswith(f"{{{redis_prefix}}}:".encode()) for name in names)
        assert {w.bridges[0].core.key.kid} == {b.core.key.kid for b in w.bridges}


async def test_a_remembered_consent_and_browser_session_work_across_replicas(
    real_as_factory: RealASFactory, redis_url: str, redis_prefix: str
) -> None:
    """The second authorization of the same client by the same browser, on the other replica,
    needs no consent page (remembered per user, client, redirect URI and scopes)."""
    async with (
        bridge_replicas(real_as_factory, redis_url, redis_prefix, auto_approve=False) as w,
        httpx2.AsyncClient(timeout=30, trust_env=False) as http,
    ):
        first = await login(http, w)
        verifier, challenge = pkce_pair()
        query = {"response_type": "code", "client_id": first["client_id"],
                 "redirect_uri": REDIRECT, "state": "s2", "resource": RESOURCE,
                 "scope": "notes:read", "code_challenge": challenge,
                 "code_challenge_method": "S256"}  # fmt: skip
        seen = len(w.balancer.log)
        url, page = await follow(http, f"{w.issuer}/authorize?{urlencode(query)}")
        assert url.startswith(REDIRECT), page.text  # no consent page this time
        bridge_hops = [replica for _, replica in w.balancer.log[seen:]]
        assert len(bridge_hops) >= 1
        code = parse_qs(urlsplit(url).query)["code"][0]
        token = await http.post(f"{w.issuer}/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": first["client_id"],
            "redirect_uri": REDIRECT, "code_verifier": verifier, "resource": RESOURCE})  # fmt: skip
        assert token.status_code == 200, token.text
        assert w.balancer.order[-1] != bridge_hops[-1]  # redeemed on the other replica


async def test_replicas_refresh_a_users_upstream_tokens_once_between_them(
    real_as_factory: RealASFactory, redis_url: str, redis_prefix: str
) -> None:
    """Fleet issue (exactly once across replicas) for the bridge's own upstream refresh: the
    user's upstream access token is due and both replicas need it at once (two MCP servers
    calling ``upstream_token``, or a refresh check on each): one refresh request reaches the
    upstream, both get its new token, and the upstream (oidc-provider: rotating refresh tokens
    with reuse detection, OAuth 2.1 §4.3.1) revokes nothing. Without the store's lease each
    replica spent the same refresh token and the second use revoked the user's grant."""
    from dataclasses import replace

    import anyio

    from tests.helpers.fleet import as_events

    def upstream(**switches: Any) -> Any:
        return real_as_factory(verbose=True, **switches)

    async with (
        bridge_replicas(upstream, redis_url, redis_prefix, auto_approve=False) as w,
        httpx2.AsyncClient(timeout=30, trust_env=False) as http,
    ):
        tokens = await login(http, w)
        subject = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"]
        for round_ in range(3):
            stored = w.bridges[0].vault.load(subject)
            assert stored is not None
            assert stored.refresh_token is not None
            w.bridges[0].vault.save(subject, replace(stored, expires_at=0.0))  # due now
            got: list[str] = []

            async def use(bridge: Any, got: list[str] = got) -> None:
                got.append(await bridge.upstream_token({"sub": subject, "iss": w.issuer}))

            async with anyio.create_task_group() as tg:
                for bridge in (*w.bridges, *w.bridges):  # two callers on each replica
                    tg.start_soon(use, bridge)
            assert len(set(got)) == 1, round_
            assert got[0] != stored.access_token, round_
            events = as_events(w.upstream)
            assert events.refreshes == round_ + 1, w.upstream.log()[-2000:]
            assert events.refresh_errors == 0
            assert events.revoked == 0
