"""DPoP at the resource server (RFC 9449 §7, §9, §11.1; SEP-1932): ``BearerAuth(dpop=DPoP())``
under uvicorn on loopback, a real ``JWTVerifier`` (pinned keys) and proofs made by
``zeroauth.core.dpop``. Every attack of SECURITY G1/G2 gets a request that must be refused:
replay, another method or URL, stale or future ``iat``, a proof by another key than
``cnf.jkt``, missing or wrong ``ath``, a bound token as Bearer, ``none``/HS256 proofs, a private
key in the header, huge or doubled proof headers, nonce reuse and expiry; and the replay cache
stays bounded under a flood."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.core.challenge import parse_www_authenticate
from zeroauth.core.dpop import make_proof
from zeroauth.core.dpop_key import DPoPKey
from zeroauth.core.errors import InvalidDPoPProof
from zeroauth.server import BearerAuth, JWTVerifier
from zeroauth.server._dpop import DPoP, MemoryReplayCache
from zeroauth.server._jwks import JWKSCache

AS = "https://as.example.com"
SIGNER = ec.generate_private_key(ec.SECP256R1())
JWK = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(SIGNER.public_key())), "kid": "k1"}
CLIENT_KEY = DPoPKey.generate()
OTHER_KEY = DPoPKey.generate()


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = json.dumps({"sub": scope["zeroauth.token"].subject}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def _token(resource: str, jkt: str | None = CLIENT_KEY.thumbprint, **extra: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": AS, "aud": resource, "sub": "alice", "iat": now, "exp": now + 300,
        "scope": "mcp:read", "client_id": "c1", **extra,
    }  # fmt: skip
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
    return jwt.encode(claims, SIGNER, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})


class Server:
    def __init__(self, served: ServedApp, resource: str, dpop: DPoP) -> None:
        self.served, self.resource, self.dpop = served, resource, dpop

    def call(
        self, token: str, *, scheme: str = "DPoP", proof: str | list[str] | None = None,
        method: str = "POST",
    ) -> httpx2.Response:  # fmt: skip
        headers = [("Authorization", f"{scheme} {token}")]
        if proof is not None:
            headers += [("DPoP", p) for p in ([proof] if isinstance(proof, str) else proof)]
        return httpx2.request(method, self.resource, headers=headers, content=b"{}")

    def proof(self, token: str | None, *, key: DPoPKey = CLIENT_KEY, **kw: Any) -> str:
        args: dict[str, Any] = {"method": "POST", "url": self.resource, "now": time.time()}
        args.update(kw)
        return make_proof(key, access_token=token, **args)


def _serve(dpop: DPoP) -> Iterator[Server]:
    holder: dict[str, str] = {}

    def factory(base: str) -> Any:
        holder["resource"] = f"{base}/mcp"
        verifier = JWTVerifier(issuer=AS, resource=holder["resource"],
                               jwks=JWKSCache.static({"keys": [JWK]}))  # fmt: skip
        return BearerAuth(_ok, verifier=verifier, resource=holder["resource"],
                          authorization_servers=[AS], dpop=dpop)  # fmt: skip

    with serve_asgi(factory=factory) as served:
        yield Server(served, holder["resource"], dpop)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve(DPoP())


@pytest.fixture
def nonce_server() -> Iterator[Server]:
    yield from _serve(DPoP(nonce_secret=b"n" * 32))


def _challenges(response: httpx2.Response) -> dict[str, Any]:
    return {
        c.scheme.lower(): c
        for c in parse_www_authenticate(response.headers.get_list("www-authenticate"))
    }


def test_rfc9449_s7_a_bound_token_with_a_fresh_proof_is_accepted(server: Server) -> None:
    token = _token(server.resource)
    response = server.call(token, proof=server.proof(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice"}


def test_g1_a_replayed_proof_is_refused(server: Server) -> None:
    token = _token(server.resource)
    proof = server.proof(token)
    assert server.call(token, proof=proof).status_code == 200
    replay = server.call(token, proof=proof)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_dpop_proof"
    assert "replay" in replay.json()["error_description"]


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        ("another method", {"method": "GET"}),
        ("another URL", {"url": "http://127.0.0.1:1/mcp"}),
        ("another path", {"url": "/other"}),
        ("a stale iat", {"now": time.time() - 3600}),
        ("a future iat", {"now": time.time() + 3600}),
        ("another key than cnf.jkt", {"key": OTHER_KEY}),
        ("no ath", {"token": None}),
        ("the ath of another token", {"token": "another-token"}),
    ],
)
def test_g1_a_proof_for_anything_else_is_refused(
    server: Server, name: str, tamper: dict[str, Any]
) -> None:
    token = _token(server.resource)
    proof_token = tamper.pop("token", token)
    if tamper.get("url") == "/other":
        tamper["url"] = server.resource.replace("/mcp", "/other")
    response = server.call(token, proof=server.proof(proof_token, **tamper))
    assert response.status_code == 401, name
    assert response.json()["error"] == "invalid_dpop_proof", name
    assert "algs" in _challenges(response)["dpop"].params  # RFC 9449 §7.1


def test_g2_a_bound_token_sent_as_bearer_is_refused(server: Server) -> None:
    token = _token(server.resource)
    response = server.call(token, scheme="Bearer")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "DPoP scheme" in response.json()["error_description"]


def test_g2_a_bound_token_as_bearer_is_refused_even_without_dpop_configured() -> None:
    holder: dict[str, str] = {}

    def factory(base: str) -> Any:
        holder["resource"] = f"{base}/mcp"
        verifier = JWTVerifier(issuer=AS, resource=holder["resource"],
                               jwks=JWKSCache.static({"keys": [JWK]}))  # fmt: skip
        return BearerAuth(_ok, verifier=verifier, resource=holder["resource"],
                          authorization_servers=[AS])  # fmt: skip

    with serve_asgi(factory=factory):
        token = _token(holder["resource"])
        response = httpx2.post(holder["resource"], headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        unbound = _token(holder["resource"], jkt=None)
        ok = httpx2.post(holder["resource"], headers={"Authorization": f"Bearer {unbound}"})
        assert ok.status_code == 200


def test_an_unbound_token_with_the_dpop_scheme_is_refused(server: Server) -> None:
    token = _token(server.resource, jkt=None)
    response = server.call(token, proof=server.proof(token))
    assert response.status_code == 401
    assert "not DPoP-bound" in response.json()["error_description"]


def _forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"x") -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(signature)])  # fmt: skip


def test_g1_unsigned_mac_private_huge_and_doubled_proofs_are_refused(server: Server) -> None:
    token = _token(server.resource)
    claims = {"jti": "j", "htm": "POST", "htu": server.resource, "iat": int(time.time())}
    public = dict(CLIENT_KEY.jwk)
    private = {**public, "d": "AAAA"}
    hs256 = jwt.encode(claims, "secret-secret-secret-secret-secret", algorithm="HS256",
                       headers={"typ": "dpop+jwt"})  # fmt: skip
    bad = {
        "alg none": _forged({"typ": "dpop+jwt", "alg": "none", "jwk": public}, claims, b""),
        "HS256": hs256,
        "private key in jwk": _forged({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}, claims),
        "huge": "a" * 20_000 + ".b.c",
        "nested header": _forged(
            {"typ": "dpop+jwt", "alg": "ES256", "jwk": {"x": {"y": {"z": [1] * 100}}}}, claims
        ),
    }
    for name, proof in bad.items():
        response = server.call(token, proof=proof)
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_dpop_proof", name
    doubled = server.call(token, proof=[server.proof(token), server.proof(token)])
    assert doubled.status_code == 401
    missing = server.call(token)
    assert missing.status_code == 401
    assert missing.json()["error"] == "invalid_dpop_proof"


def test_rfc9449_s9_server_nonce_is_demanded_then_accepted(nonce_server: Server) -> None:
    token = _token(nonce_server.resource)
    first = nonce_server.call(token, proof=nonce_server.proof(token))
    assert first.status_code == 401
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    assert _challenges(first)["dpop"].params["error"] == "use_dpop_nonce"
    again = nonce_server.call(token, proof=nonce_server.proof(token, nonce=nonce))
    assert again.status_code == 200
    forged = nonce_server.call(token, proof=nonce_server.proof(token, nonce="1.forged"))
    assert forged.json()["error"] == "use_dpop_nonce"


def test_rfc9449_s9_an_expired_nonce_is_refused() -> None:
    clock = [1_000_000.0]
    dpop = DPoP(nonce_secret=b"n" * 32, clock=lambda: clock[0], max_age=10**9, leeway=10**9)
    assert dpop.nonces is not None
    old = dpop.nonces.current()
    assert dpop.nonces.valid(old)
    clock[0] += 300  # the next window: the previous nonce still passes
    assert dpop.nonces.valid(old)
    clock[0] += 300  # two windows later: refused
    assert not dpop.nonces.valid(old)


def test_required_dpop_refuses_bearer_and_says_so_in_metadata_and_challenge() -> None:
    for server in _serve(DPoP(required=True, algs=("ES256",))):
        unbound = _token(server.resource, jkt=None)
        response = server.call(unbound, scheme="Bearer")
        assert response.status_code == 401
        assert set(_challenges(response)) == {"dpop"}  # only DPoP is offered
        assert _challenges(response)["dpop"].params["algs"] == "ES256"
        anonymous = httpx2.post(server.resource)
        assert set(_challenges(anonymous)) == {"dpop"}
        prm = httpx2.get(server.served.url("/.well-known/oauth-protected-resource/mcp")).json()
        assert prm["dpop_bound_access_tokens_required"] is True
        assert prm["dpop_signing_alg_values_supported"] == ["ES256"]


def test_optional_dpop_offers_both_schemes(server: Server) -> None:
    anonymous = httpx2.post(server.resource)
    assert anonymous.status_code == 401
    challenges = _challenges(anonymous)
    assert set(challenges) == {"bearer", "dpop"}
    assert "error" not in challenges["dpop"].params  # no token, no error (RFC 6750 §3.1)
    assert challenges["dpop"].params["resource_metadata"].endswith("/oauth-protected-resource/mcp")


def test_the_replay_cache_is_bounded_under_a_flood() -> None:
    import tracemalloc

    from zeroauth.core.dpop import validate_proof

    cache = MemoryReplayCache(capacity=50_000, per_key=20_000)
    token = "t"
    now = time.time()
    proofs = [
        validate_proof(
            make_proof(CLIENT_KEY, method="POST", url="https://r/mcp", now=now, access_token=token),
            method="POST",
            url="https://r/mcp",
            now=now,
            access_token=token,
        )
        for _ in range(50)
    ]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    from dataclasses import replace

    refused = 0
    for i in range(25_000):  # one key floods with unique jtis
        try:
            cache.seen(replace(proofs[i % 50], jti=f"j{i}"), now=now, ttl=420)
        except InvalidDPoPProof:
            refused += 1
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(cache) == 20_000  # the per-key cap holds
    assert refused == 5_000  # the flooder is refused, fails closed
    other = replace(proofs[0], jkt=OTHER_KEY.thumbprint, jti="other")
    assert cache.seen(other, now=now, ttl=420) is False  # another client is unaffected
    assert used < 20 * 1024 * 1024, f"{used / 1e6:.1f} MB for 20k entries"
    cache.seen(replace(proofs[0], jti="late"), now=now + 421, ttl=420)  # window passed
    assert len(cache) == 1  # every expired entry purged


def test_rfc9449_s11_1_replicas_share_a_redis_replay_cache(
    redis_url: str, redis_prefix: str
) -> None:
    """Two replicas behind a load balancer: a proof accepted by one is a replay at the other."""
    from zeroauth.core.dpop import validate_proof
    from zeroauth.server import RedisReplayCache

    now = time.time()
    token = "t"
    proof = validate_proof(
        make_proof(CLIENT_KEY, method="POST", url="https://r/mcp", now=now, access_token=token),
        method="POST", url="https://r/mcp", now=now, access_token=token,
    )  # fmt: skip
    one = DPoP(replay=RedisReplayCache.from_url(redis_url, prefix=redis_prefix))
    two = DPoP(replay=RedisReplayCache.from_url(redis_url, prefix=redis_prefix))
    assert one.replay.seen(proof, now=now, ttl=60) is False
    assert two.replay.seen(proof, now=now, ttl=60) is True


def test_a_redis_replay_cache_that_is_down_refuses_the_proof() -> None:
    from tests.helpers.redis_service import closed_loopback_port
    from zeroauth.core.dpop import validate_proof
    from zeroauth.server import RedisReplayCache

    now = time.time()
    proof = validate_proof(
        make_proof(CLIENT_KEY, method="POST", url="https://r/mcp", now=now),
        method="POST", url="https://r/mcp", now=now,
    )  # fmt: skip
    cache = RedisReplayCache.from_url(f"redis://127.0.0.1:{closed_loopback_port()}/0")
    with pytest.raises(InvalidDPoPProof, match="replay cache is unavailable"):
        cache.seen(proof, now=now, ttl=60)
