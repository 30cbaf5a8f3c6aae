"""JWTVerifier: SECURITY B1-B3, B13, claims, RFC 9068 typ, scopes, verified-token cache.

Keys are generated here with ``cryptography``; the JWKS is served over real HTTP by a small
Starlette app under uvicorn on 127.0.0.1 (``tests/helpers/asgi_server.py``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.clock import Clock
from zeroauth.core.errors import InvalidToken
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import MAX_TOKEN_LENGTH, JWTVerifier
from zeroauth.server._verifier import TokenVerifier

# the verifier is anyio-generic (asyncio and trio)
pytestmark = pytest.mark.all_backends

ISS = "https://as.example.com/realms/test"
RES = "https://mcp.example.com/mcp"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EVIL = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {
    "keys": [
        RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True) | {"kid": "r1", "use": "sig"},
        ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True) | {"kid": "e1", "alg": "ES256"},
    ]
}


@dataclass
class KeyServer:
    """A JWKS endpoint (and a would-be attacker ``jku`` endpoint) that counts its requests."""

    jwks: dict[str, Any] = field(default_factory=lambda: JWKS)
    evil_jwks: dict[str, Any] = field(
        default_factory=lambda: {"keys": [RSAAlgorithm.to_jwk(EVIL.public_key(), as_dict=True)]}
    )
    hits: dict[str, int] = field(default_factory=dict)
    base_url: str = ""

    def app(self) -> Starlette:
        async def serve(request: Request) -> Response:
            path = request.url.path
            self.hits[path] = self.hits.get(path, 0) + 1
            body = self.jwks if path == "/jwks" else self.evil_jwks
            return Response(json.dumps(body), media_type="application/json")

        return Starlette(routes=[Route("/jwks", serve), Route("/evil-jwks", serve)])


@pytest.fixture(scope="module")
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    with serve_asgi(server.app()) as served:
        server.base_url = served.base_url
        yield server


@pytest.fixture
async def verifier(key_server: KeyServer, clock: Clock) -> AsyncIterator[JWTVerifier]:
    key_server.hits.clear()
    v = JWTVerifier(issuer=ISS, resource=RES, jwks_uri=f"{key_server.base_url}/jwks", clock=clock)
    yield v
    await v.aclose()


def mint(
    clock: Clock,
    *,
    key: Any = RSA_KEY,
    alg: str = "RS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(clock.now)
    payload = {"iss": ISS, "aud": RES, "exp": now + 300, "iat": now, "sub": "alice"}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    hdr = {"kid": "r1" if alg.startswith("RS") else "e1", "typ": "at+jwt"}
    hdr.update(headers or {})
    return jwt.encode(payload, key, alg, headers=hdr)


async def refused(v: JWTVerifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await v.verify(token)
    err = info.value
    assert err.status_code == 401
    assert err.error == "invalid_token"
    if len(token) > 8:
        assert token not in str(err)
        assert token not in (err.description or "")
    return err


# --- happy path and claims -----------------------------------------------------------------


@pytest.mark.anyio
async def test_s19_valid_rs256_and_es256_tokens_are_accepted(
    verifier: JWTVerifier, clock: Clock
) -> None:
    assert isinstance(verifier, TokenVerifier)
    rs = await verifier.verify(mint(clock, scope="mcp:read mcp:write", client_id="c1"))
    assert rs.issuer == ISS
    assert rs.subject == "alice"
    assert rs.client_id == "c1"
    assert rs.audience == (RES,)
    assert rs.scopes == frozenset({"mcp:read", "mcp:write"})
    assert rs.expires_at == int(clock.now) + 300
    es = await verifier.verify(mint(clock, key=EC_KEY, alg="ES256", azp="c2"))
    assert es.client_id == "c2"
    assert es.scopes == frozenset()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"scope": "a b  c"}, {"a", "b", "c"}),
        ({"scp": ["a", "b"]}, {"a", "b"}),
        ({"scp": "a b"}, {"a", "b"}),
        ({"scope": "a", "scp": ["b"]}, {"a"}),
        ({"scope": ""}, set()),
    ],
    ids=["scope-string", "scp-list", "scp-string", "scope-wins", "empty"],
)
async def test_s16_scope_and_scp_claims(
    verifier: JWTVerifier, clock: Clock, claims: dict[str, Any], expected: set[str]
) -> None:
    assert (await verifier.verify(mint(clock, **claims))).scopes == expected


@pytest.mark.anyio
async def test_aud_list_containing_our_resource_is_accepted(
    verifier: JWTVerifier, clock: Clock
) -> None:
    token = await verifier.verify(mint(clock, aud=["https://other.example", RES]))
    assert token.audience == ("https://other.example", RES)


@pytest.mark.anyio
async def test_several_resources_accept_any_of_them(key_server: KeyServer, clock: Clock) -> None:
    v = JWTVerifier(
        issuer=ISS, resource=[RES, RES + "/v2"], jwks_uri=f"{key_server.base_url}/jwks", clock=clock
    )
    try:
        assert (await v.verify(mint(clock, aud=RES + "/v2"))).audience == (RES + "/v2",)
    finally:
        await v.aclose()


# --- B1: audience ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "aud",
    ["https://other.example/mcp", RES + "/", [], None, ["https://a", "https://b"]],
    ids=["other", "trailing-slash", "empty", "missing", "list-without-ours"],
)
async def test_b1_s20_token_for_another_resource_is_refused(
    verifier: JWTVerifier, clock: Clock, aud: Any
) -> None:
    err = await refused(verifier, mint(clock, aud=aud))
    assert err.requirement == "S-20"
    assert "audience" in (err.description or "")


@pytest.mark.anyio
async def test_b1_s20_turning_the_audience_check_off_is_explicit_and_logged(
    key_server: KeyServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="zeroauth.server.jwt"):
        v = JWTVerifier(
            issuer=ISS,
            resource=RES,
            jwks_uri=f"{key_server.base_url}/jwks",
            audience_check=False,
            clock=clock,
        )
    assert any("audience check DISABLED" in r.getMessage() for r in caplog.records)
    try:
        assert (await v.verify(mint(clock, aud="https://other"))).audience == ("https://other",)
    finally:
        await v.aclose()


# --- B2: header attacks ----------------------------------------------------------------------


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return jwt.encode(payload, "", "none", headers=header)


@pytest.mark.anyio
async def test_b2_alg_none_is_refused(verifier: JWTVerifier, clock: Clock) -> None:
    now = int(clock.now)
    token = _unsigned({"kid": "r1"}, {"iss": ISS, "aud": RES, "exp": now + 60})
    err = await refused(verifier, token)
    assert err.description == "signature algorithm not allowed"


@pytest.mark.anyio
async def test_b2_hs256_signed_with_the_rsa_public_key_is_refused(
    verifier: JWTVerifier, clock: Clock
) -> None:
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(clock.now)
    payload = json.dumps({"iss": ISS, "aud": RES, "exp": now + 60}).encode()
    token = jwt.api_jws.PyJWS(algorithms=["HS256"]).encode(
        payload, b"k" * 32, "HS256", headers={"kid": "r1"}
    )
    head, body, _ = token.split(".")
    forged = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        f"{head}.{body}".encode(), pem
    )
    token = f"{head}.{body}.{jwt.utils.base64url_encode(forged).decode()}"
    assert (await refused(verifier, token)).requirement == "B2"


@pytest.mark.anyio
async def test_b2_algorithm_outside_the_allow_list_is_refused(
    verifier: JWTVerifier, clock: Clock
) -> None:
    err = await refused(verifier, mint(clock, alg="RS512", headers={"kid": "r1"}))
    assert "not allowed" in (err.description or "")


@pytest.mark.anyio
@pytest.mark.parametrize("member", ["jku", "x5u"])
async def test_b2_jku_x5u_injection_is_never_fetched(
    verifier: JWTVerifier, key_server: KeyServer, clock: Clock, member: str
) -> None:
    evil = f"{key_server.base_url}/evil-jwks"
    token = mint(clock, key=EVIL, headers={member: evil, "kid": "evil"})
    await refused(verifier, token)
    token = mint(clock, key=EVIL, headers={member: evil})  # our kid, their key
    assert (await refused(verifier, token)).description == "signature verification failed"
    assert key_server.hits.get("/evil-jwks", 0) == 0


@pytest.mark.anyio
async def test_b2_embedded_jwk_is_ignored(verifier: JWTVerifier, clock: Clock) -> None:
    jwk = RSAAlgorithm.to_jwk(EVIL.public_key(), as_dict=True)
    token = mint(clock, key=EVIL, headers={"jwk": jwk})
    assert (await refused(verifier, token)).description == "signature verification failed"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header",
    [{"crit": ["exp"], "exp": 1}, {"crit": ["b64"], "b64": True}, {"crit": []}],
    ids=["unknown", "b64", "empty"],
)
async def test_b2_crit_is_refused(
    verifier: JWTVerifier, clock: Clock, header: dict[str, Any]
) -> None:
    # PyJWT refuses to *encode* some of these; sign the segments ourselves.
    token = mint(clock)
    head, body, _ = token.split(".")
    full = json.loads(jwt.utils.base64url_decode(head)) | header
    head = jwt.utils.base64url_encode(json.dumps(full).encode()).decode()
    sig = jwt.get_algorithm_by_name("RS256").sign(f"{head}.{body}".encode(), RSA_KEY)
    token = f"{head}.{body}.{jwt.utils.base64url_encode(sig).decode()}"
    assert "critical" in (await refused(verifier, token)).description  # type: ignore[operator]


@pytest.mark.anyio
async def test_b2_key_type_must_fit_the_algorithm(verifier: JWTVerifier, clock: Clock) -> None:
    # ES256 token naming the RSA key, RS256 token naming the EC key (alg-confusion attempts)
    await refused(verifier, mint(clock, key=EC_KEY, alg="ES256", headers={"kid": "r1"}))
    err = await refused(verifier, mint(clock, headers={"kid": "e1"}))
    assert "no signing key" in (err.description or "")


@pytest.mark.anyio
async def test_b2_es256_der_signature_is_refused(verifier: JWTVerifier, clock: Clock) -> None:
    token = mint(clock, key=EC_KEY, alg="ES256")
    head, body, _ = token.split(".")
    der = EC_KEY.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    token = f"{head}.{body}.{jwt.utils.base64url_encode(der).decode()}"
    assert (await refused(verifier, token)).description == "signature verification failed"


@pytest.mark.anyio
async def test_b2_token_without_kid_needs_an_unambiguous_key(
    verifier: JWTVerifier, clock: Clock
) -> None:
    token = jwt.encode({"iss": ISS, "aud": RES, "exp": int(clock.now) + 60}, RSA_KEY, "RS256")
    assert (await verifier.verify(token)).issuer == ISS  # one RSA key in the set: unambiguous


# --- B3: claims ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -31}, "token expired"),
        ({"nbf": 31}, "token not yet valid (nbf)"),
        ({"iat": 31}, "token not yet valid (iat)"),
        ({"exp": None}, "token has no exp claim"),
        ({"iss": "https://evil.example"}, "token issuer mismatch"),
        ({"iss": None}, "token issuer mismatch"),
        ({"exp": "9999999999"}, "the exp claim is not a number"),
        ({"sub": 7}, "the sub claim is not a string"),
    ],
    ids=["expired", "nbf-future", "iat-future", "no-exp", "wrong-iss", "no-iss", "exp-str", "sub"],
)
async def test_b3_claims_refused_with_reason(
    verifier: JWTVerifier, clock: Clock, claims: dict[str, Any], reason: str
) -> None:
    now = int(clock.now)
    relative = {
        k: now + v if k in ("nbf", "iat") or (k == "exp" and isinstance(v, int)) else v
        for k, v in claims.items()
    }
    assert (await refused(verifier, mint(clock, **relative))).description == reason


@pytest.mark.anyio
async def test_b3_leeway_and_injected_clock(verifier: JWTVerifier, clock: Clock) -> None:
    now = int(clock.now)
    assert await verifier.verify(mint(clock, exp=now - 29, nbf=now + 29, iat=now + 29))
    clock.now += 1000
    await refused(verifier, mint(clock, exp=int(clock.now) - 30))


# --- RFC 9068 typ ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "JWT", None])
async def test_rfc9068_typ_accepted_when_present(
    verifier: JWTVerifier, clock: Clock, typ: str | None
) -> None:
    assert await verifier.verify(mint(clock, headers={"typ": typ}))


@pytest.mark.anyio
@pytest.mark.parametrize("typ", ["dpop+jwt", "logout+jwt", "secevent+jwt", "JOSE"])
async def test_rfc9068_typ_of_other_jwts_refused(
    verifier: JWTVerifier, clock: Clock, typ: str
) -> None:
    await refused(verifier, mint(clock, headers={"typ": typ}))


@pytest.mark.anyio
async def test_rfc9068_required_typ(key_server: KeyServer, clock: Clock) -> None:
    v = JWTVerifier(
        issuer=ISS,
        resource=RES,
        jwks_uri=f"{key_server.base_url}/jwks",
        required_typ=True,
        clock=clock,
    )
    try:
        assert await v.verify(mint(clock))
        await refused(v, mint(clock, headers={"typ": "JWT"}))
        await refused(v, mint(clock, headers={"typ": None}))
    finally:
        await v.aclose()


# --- B13: malformed input --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "a.b.c.d.e", "é.é.é", "x" * 100_000, "a" * MAX_TOKEN_LENGTH + ".b.c"],
    ids=["empty", "garbage", "two", "jwe", "non-ascii", "100kb", "over-cap"],
)
async def test_b13_malformed_tokens_refused_fast(verifier: JWTVerifier, token: str) -> None:
    start = time.perf_counter()
    await refused(verifier, token)
    assert time.perf_counter() - start < 0.05


@pytest.mark.anyio
async def test_b13_garbage_never_reaches_the_jwks_endpoint(
    verifier: JWTVerifier, key_server: KeyServer
) -> None:
    for token in ("a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.!!!", "x" * 100_000):
        await refused(verifier, token)
    assert key_server.hits.get("/jwks", 0) == 0


# --- verified-token cache --------------------------------------------------------------------


@pytest.mark.anyio
async def test_repeated_token_is_served_from_the_cache_until_exp(
    verifier: JWTVerifier, key_server: KeyServer, clock: Clock
) -> None:
    token = mint(clock, exp=int(clock.now) + 100)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first  # the cached object itself
    assert all(len(k) == 32 and token.encode() not in k for k in verifier._cache)
    clock.now = first.expires_at  # type: ignore[assignment]
    verifier.leeway = 0  # with leeway the cold path would accept it; the cache must not serve it
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
    assert key_server.hits["/jwks"] == 1


@pytest.mark.anyio
async def test_verified_token_cache_is_bounded_lru(key_server: KeyServer, clock: Clock) -> None:
    v = JWTVerifier(
        issuer=ISS, resource=RES, jwks_uri=f"{key_server.base_url}/jwks", cache_size=2, clock=clock
    )
    try:
        tokens = [mint(clock, jti=str(i)) for i in range(3)]
        a = await v.verify(tokens[0])
        await v.verify(tokens[1])
        assert await v.verify(tokens[0]) is a  # refreshes tokens[0]
        await v.verify(tokens[2])  # evicts tokens[1]
        assert len(v._cache) == 2
        assert await v.verify(tokens[0]) is a
        assert await v.verify(tokens[1]) is not None
    finally:
        await v.aclose()


@pytest.mark.anyio
async def test_refusals_are_not_cached(verifier: JWTVerifier, clock: Clock) -> None:
    token = mint(clock, aud="https://other")
    await refused(verifier, token)
    await refused(verifier, token)
    assert len(verifier._cache) == 0


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("algs", [("HS256",), ("none",), (), ("RS256", "HS512")])
def test_b2_symmetric_or_none_algorithms_cannot_be_configured(algs: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        JWTVerifier(issuer=ISS, resource=RES, jwks=JWKSCache.static(JWKS), algorithms=algs)


def test_exactly_one_key_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JWTVerifier(issuer=ISS, resource=RES)
    with pytest.raises(ValueError, match="exactly one"):
        JWTVerifier(
            issuer=ISS,
            resource=RES,
            jwks_uri="https://as.example/jwks",
            jwks=JWKSCache.static(JWKS),
        )


def test_s20_audience_check_needs_a_resource() -> None:
    with pytest.raises(ValueError, match="S-20"):
        JWTVerifier(issuer=ISS, resource=(), jwks=JWKSCache.static(JWKS))
