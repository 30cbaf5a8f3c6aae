"""Two dev AS replicas sharing Redis behind a round-robin load balancer on loopback (fleet issue:
server-side state shared by replicas). Each request of one user goes to the other replica:

- a login started on one replica completes on the other: the consent form issued by one is
  posted to the other (the CSRF/HMAC secret is shared) and is single use across both
  (AS-05, consent CSRF), the code from one is redeemed at the other (OAuth 2.1 §4.1.3);
- a refresh works on either (OAuth 2.1 §4.3.1 rotation), and reusing a rotated refresh token at
  the other replica revokes the whole family (D5, RFC 9700 §4.14.2);
- the JWKS is identical on both, and a token minted by either verifies with it (RFC 7517).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
import redis

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.balancer import RoundRobin
from tests.helpers.redis_service import TcpProxy
from zeroauth.client import Keyring
from zeroauth.core.dpop import make_proof
from zeroauth.core.dpop_key import DPoPKey
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

pytestmark = pytest.mark.anyio

RESOURCE = "http://127.0.0.1:9/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"


@asynccontextmanager
async def replicas(
    redis_url: str, prefix: str, count: int = 2, **options: Any
) -> AsyncIterator[tuple[str, RoundRobin, list[DevAuthorizationServer]]]:
    """``count`` dev AS replicas on one Redis prefix, all with the balancer's URL as issuer."""
    sock = bind_loopback()
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    keys = Keyring.generate("dev")
    async with AsyncExitStack() as stack:
        servers, urls = [], []
        for _ in range(count):
            config = DevServerConfig(
                issuer=issuer, resources=[ProtectedResource(RESOURCE, ("mcp:read",))],
                redis_url=redis_url, redis_prefix=prefix, redis_keys=keys, **options,
            )  # fmt: skip
            server = DevAuthorizationServer(config)
            servers.append(server)
            urls.append((await stack.enter_async_context(serve_asgi_async(server.app()))).base_url)
        balancer = RoundRobin(urls)
        stack.push_async_callback(balancer.aclose)
        await stack.enter_async_context(serve_socket(balancer, sock))
        yield issuer, balancer, servers
        for server in servers:
            server.store.close()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


async def _login(http: httpx2.AsyncClient, issuer: str, lb: RoundRobin) -> dict[str, Any]:
    """Register, authorize with consent, redeem: every step on the other replica."""
    reg = await http.post(f"{issuer}/register", json={
        "client_name": "replicas", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none", "application_type": "native"})  # fmt: skip
    assert reg.status_code == 201, reg.text
    client_id = reg.json()["client_id"]
    verifier, challenge = _pkce()
    page = await http.get(f"{issuer}/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "state": "st", "resource": RESOURCE, "scope": "mcp:read offline_access",
        "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    assert page.status_code == 200, page.text  # the consent page, from one replica
    fields = re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
    form = {name: html.unescape(value) for name, value in fields}
    decision = await http.post(f"{issuer}/authorize/decision", data={**form, "decision": "approve"})
    assert decision.status_code == 302, decision.text  # accepted by the other replica
    assert lb.order[-1] != lb.order[-2]
    again = await http.post(f"{issuer}/authorize/decision", data={**form, "decision": "approve"})
    assert again.status_code == 400  # single use across replicas: back on the first one
    assert "already submitted" in again.text
    code = parse_qs(urlsplit(decision.headers["location"]).query)["code"][0]
    token = await http.post(f"{issuer}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": client_id, "resource": RESOURCE})  # fmt: skip
    assert token.status_code == 200, token.text
    return {"client_id": client_id, **token.json()}


async def _refresh(
    http: httpx2.AsyncClient, issuer: str, client_id: str, refresh: str
) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
    return await http.post(f"{issuer}/token", data=form)


async def test_login_on_one_replica_completes_on_the_other_and_refresh_works_on_both(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        replicas(redis_url, redis_prefix) as (issuer, lb, servers),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        login = await _login(http, issuer, lb)
        client_id = login["client_id"]
        first = await _refresh(http, issuer, client_id, login["refresh_token"])
        served_first = lb.order[-1]
        assert first.status_code == 200, first.text
        second = await _refresh(http, issuer, client_id, first.json()["refresh_token"])
        assert second.status_code == 200, second.text
        assert lb.order[-1] != served_first  # one refresh on each replica
        jwks = [(await http.get(f"{url}/jwks")).json() for url in lb.replicas]
        tokens = [login["access_token"], first.json()["access_token"],
                  second.json()["access_token"]]  # fmt: skip
    assert jwks[0] == jwks[1]  # one signing key, served identically by each replica
    assert len({server.key.kid for server in servers}) == 1
    assert all(lb.served[i] >= 3 for i in range(2)), lb.served
    key = jwt.PyJWK(jwks[0]["keys"][0])
    for token in tokens:  # minted by either replica, verified with the one JWKS
        claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=RESOURCE)
        assert claims["iss"] == issuer


async def test_d5_reuse_of_a_rotated_refresh_token_on_the_other_replica_revokes_the_family(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        replicas(redis_url, redis_prefix) as (issuer, lb, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        login = await _login(http, issuer, lb)
        client_id, old = login["client_id"], login["refresh_token"]
        rotated = await _refresh(http, issuer, client_id, old)
        assert rotated.status_code == 200, rotated.text
        replica = lb.order[-1]
        reuse = await _refresh(http, issuer, client_id, old)  # the rotated one, again
        assert lb.order[-1] != replica  # seen by the other replica
        assert reuse.status_code == 400
        assert reuse.json()["error"] == "invalid_grant"
        newest = await _refresh(http, issuer, client_id, rotated.json()["refresh_token"])
        assert newest.status_code == 400  # the whole family is revoked, on every replica
        assert newest.json()["error"] == "invalid_grant"


async def test_code_and_refresh_token_used_at_once_on_both_replicas_count_once(
    redis_url: str, redis_prefix: str
) -> None:
    """OAuth 2.1 §4.1.3 and §4.3.1: 8 threads, alternating between the two replicas' stores,
    use one code and rotate one refresh token at the same instant: exactly one sees it fresh."""
    async with replicas(redis_url, redis_prefix) as (_, _, servers):
        stores = [server.store for server in servers]
        stores[0].add_code("c-1", "g-1", {"x": 1}, expires=9e9)
        stores[1].add_refresh("r-1", "g-2", {"x": 1}, expires=9e9)
        start = threading.Barrier(8)

        def use(i: int) -> tuple[bool, bool]:
            start.wait()
            code = stores[i % 2].use_code("c-1")
            refresh = stores[(i + 1) % 2].rotate_refresh("r-1")
            assert code is not None
            assert refresh is not None
            return code.used, refresh.rotated

        with ThreadPoolExecutor(8) as pool:
            seen = list(pool.map(use, range(8)))
    assert sorted(used for used, _ in seen) == [False] + [True] * 7
    assert sorted(rotated for _, rotated in seen) == [False] + [True] * 7


def test_replicas_starting_at_once_sign_with_one_key_stored_encrypted(
    redis_url: str, redis_prefix: str
) -> None:
    """One active signing key for all replicas (the first stored wins, HSETNX), sealed with
    AES-256-GCM under the configured keyring: no private key in clear in Redis."""
    keys = Keyring.generate("dev")
    config = DevServerConfig(
        issuer="http://127.0.0.1:1", redis_url=redis_url, redis_prefix=redis_prefix,
        redis_keys=keys,
    )  # fmt: skip
    start = threading.Barrier(6)

    def make(_: int) -> DevAuthorizationServer:
        start.wait()
        return DevAuthorizationServer(config)

    with ThreadPoolExecutor(6) as pool:
        servers = list(pool.map(make, range(6)))
    assert len({server.key.kid for server in servers}) == 1
    assert len({str(server.key.jwks()) for server in servers}) == 1
    client = redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(f"{{{redis_prefix}}}:signing-key*"))
        assert names == [f"{{{redis_prefix}}}:signing-keys:ES256".encode()]  # one rotation set
        blobs = list(client.hgetall(names[0]).values())  # a field per key generation
    finally:
        client.close()
    assert len(blobs) == 1
    assert blobs[0] is not None
    assert b"PRIVATE KEY" not in blobs[0]
    assert b"kid" not in blobs[0]
    for server in servers:
        server.store.close()


async def test_rfc9449_a_dpop_proof_replayed_to_the_other_replica_is_refused(
    redis_url: str, redis_prefix: str
) -> None:
    """RFC 9449 §11.1: the token endpoint's replay cache is the shared store."""
    async with (
        replicas(redis_url, redis_prefix) as (issuer, lb, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        login = await _login(http, issuer, lb)
        proof = make_proof(DPoPKey.generate(), method="POST", url=f"{issuer}/token",
                           now=time.time())  # fmt: skip
        form = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"],
                "client_id": login["client_id"]}  # fmt: skip
        first = await http.post(f"{issuer}/token", data=form, headers={"DPoP": proof})
        replica = lb.order[-1]
        replay = await http.post(f"{issuer}/token", data=form, headers={"DPoP": proof})
        assert lb.order[-1] != replica
    assert first.status_code == 200, first.text
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_dpop_proof"
    assert "already used" in replay.json()["error_description"]


async def test_redis_down_is_503_temporarily_unavailable_naming_the_store(
    redis_url: str, redis_prefix: str
) -> None:
    """Nothing issued and no bare 500 when the shared state cannot be reached (RFC 6749
    §4.1.2.1 ``temporarily_unavailable``)."""
    proxy = TcpProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    async with (
        replicas(proxy.url(), redis_prefix) as (issuer, lb, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        login = await _login(http, issuer, lb)
        proxy.cut()
        answer = await _refresh(http, issuer, login["client_id"], login["refresh_token"])
    assert answer.status_code == 503
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["error"] == "temporarily_unavailable"
    assert proxy.url() in body["error_description"]
    assert "access_token" not in body
