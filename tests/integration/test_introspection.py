"""IntrospectionVerifier (RFC 7662) against real endpoints on 127.0.0.1: SECURITY B12, S-20.

First an introspection endpoint served in-test (full control: inactive, errors, slowness,
client authentication), then the real authorization server (``oidc-provider``, ``real_as``).
"""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.realas.fixtures import RealAS
from zeroauth.core.errors import InvalidToken
from zeroauth.server._introspection import IntrospectionVerifier

RES = "https://mcp.example.com/mcp"
ISS = "https://as.example.com"
CLIENT_ID, SECRET = "rs:client", "s3cret/+=%é"


@dataclass
class Introspector:
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    url: str = ""

    def reset(self) -> None:
        self.answers, self.requests, self.status, self.delay = {}, [], 200, 0.0

    def app(self) -> Starlette:
        async def introspect(request: Request) -> Response:
            form = dict(await request.form())
            auth = request.headers.get("authorization", "")
            self.requests.append({"form": form, "authorization": auth})
            if self.delay:
                await anyio.sleep(self.delay)
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                client = (unquote(user), unquote(password))
            else:
                client = (str(form.get("client_id")), str(form.get("client_secret")))
            if client != (CLIENT_ID, SECRET):
                return JSONResponse({"error": "invalid_client"}, 401)
            if self.status != 200:
                return Response("upstream trouble", self.status)
            return JSONResponse(self.answers.get(str(form["token"]), {"active": False}))

        return Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])


@pytest.fixture(scope="module")
def served() -> Iterator[Introspector]:
    introspector = Introspector()
    with serve_asgi(introspector.app()) as server:
        introspector.url = server.url("/introspect")
        yield introspector


@pytest.fixture
def endpoint(served: Introspector) -> Introspector:
    served.reset()
    return served


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def verifier(endpoint: Introspector, clock: Clock) -> AsyncIterator[IntrospectionVerifier]:
    v = IntrospectionVerifier(
        introspection_endpoint=endpoint.url,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        resource=RES,
        issuer=ISS,
        timeout=1.0,
        clock=clock,
    )
    yield v
    await v.aclose()


def active(clock: Clock, **members: Any) -> dict[str, Any]:
    answer = {"active": True, "iss": ISS, "aud": RES, "exp": int(clock.now) + 300}
    answer |= {"sub": "alice", "client_id": "c1", "scope": "mcp:read", "token_type": "Bearer"}
    answer.update(members)
    return {k: v for k, v in answer.items() if v is not None}


async def refused(v: IntrospectionVerifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await v.verify(token)
    assert info.value.status_code == 401
    assert len(token) < 4 or token not in str(info.value)
    return info.value


@pytest.mark.anyio
async def test_rfc7662_active_token_is_accepted_and_cached(
    verifier: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    endpoint.answers["opaque-Zq82"] = active(clock)
    token = await verifier.verify("opaque-Zq82")
    assert (token.issuer, token.subject, token.client_id) == (ISS, "alice", "c1")
    assert token.scopes == {"mcp:read"}
    assert token.audience == (RES,)
    assert await verifier.verify("opaque-Zq82") is token
    assert len(endpoint.requests) == 1
    sent = endpoint.requests[0]
    assert sent["form"] == {"token": "opaque-Zq82", "token_type_hint": "access_token"}
    expected = base64.b64encode(b"rs%3Aclient:s3cret%2F%2B%3D%25%C3%A9").decode()
    assert sent["authorization"] == f"Basic {expected}"  # RFC 6749 §2.3.1 encoding


@pytest.mark.anyio
async def test_client_secret_post(endpoint: Introspector, clock: Clock) -> None:
    endpoint.answers["opaque-Zq81"] = active(clock)
    v = IntrospectionVerifier(
        introspection_endpoint=endpoint.url,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        resource=RES,
        auth_method="client_secret_post",
        clock=clock,
    )
    try:
        assert await v.verify("opaque-Zq81")
    finally:
        await v.aclose()
    assert endpoint.requests[0]["authorization"] == ""
    assert endpoint.requests[0]["form"]["client_secret"] == SECRET


@pytest.mark.anyio
async def test_b12_inactive_token_refused_and_never_cached(
    verifier: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    err = await refused(verifier, "revoked")
    assert err.description == "token is not active"
    await refused(verifier, "revoked")
    assert len(endpoint.requests) == 2  # asked again: inactive answers are not cached
    endpoint.answers["revoked"] = active(clock)  # (a later active answer is believed)
    assert await verifier.verify("revoked")


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503, 400])
async def test_b12_endpoint_errors_fail_closed_and_are_not_cached(
    verifier: IntrospectionVerifier,
    endpoint: Introspector,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    endpoint.answers["opaque-Zq81"] = active(clock)
    endpoint.status = status
    with caplog.at_level(logging.ERROR, logger="zeroauth.server.introspection"):
        err = await refused(verifier, "opaque-Zq81")
    assert "introspection unavailable" in (err.description or "")
    assert any("fail closed" in r.getMessage() for r in caplog.records)
    endpoint.status = 200
    assert await verifier.verify("opaque-Zq81")
    assert len(endpoint.requests) == 2


@pytest.mark.anyio
async def test_b12_endpoint_down_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    v = IntrospectionVerifier(
        introspection_endpoint=f"http://127.0.0.1:{port}/introspect",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        resource=RES,
    )
    try:
        with caplog.at_level(logging.ERROR, logger="zeroauth.server.introspection"):
            await refused(v, "opaque-Zq81")
        assert any("ConnectError" in r.getMessage() for r in caplog.records)
    finally:
        await v.aclose()


@pytest.mark.anyio
async def test_b12_slow_endpoint_times_out(
    verifier: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    endpoint.answers["opaque-Zq81"] = active(clock)
    endpoint.delay = 3.0
    start = time.perf_counter()
    await refused(verifier, "opaque-Zq81")
    assert time.perf_counter() - start < 2.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("members", "requirement"),
    [
        ({"aud": "https://other.example/mcp"}, "S-20"),
        ({"aud": None}, "S-20"),
        ({"aud": ["https://a", "https://b"]}, "S-20"),
        ({"iss": "https://evil.example"}, "B3"),
        ({"exp": -31}, "B3"),
        ({"exp": None}, "B12"),
        ({"nbf": 31}, "B3"),
        ({"token_type": "refresh_token"}, "B12"),
        ({"active": "true"}, "B12"),
    ],
    ids=[
        "aud-other",
        "aud-missing",
        "aud-list",
        "iss",
        "expired",
        "no-exp",
        "nbf",
        "refresh",
        "str",
    ],
)
async def test_b12_s20_answer_checks(
    verifier: IntrospectionVerifier,
    endpoint: Introspector,
    clock: Clock,
    members: dict[str, Any],
    requirement: str,
) -> None:
    for name in ("exp", "nbf"):
        if isinstance(members.get(name), int):
            members[name] += int(clock.now)
    endpoint.answers["opaque-Zq81"] = active(clock, **members)
    assert (await refused(verifier, "opaque-Zq81")).requirement == requirement


@pytest.mark.anyio
async def test_b12_cache_ttl_is_capped_by_exp(
    verifier: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    endpoint.answers["short"] = active(clock, exp=int(clock.now) + 10)
    endpoint.answers["long"] = active(clock, exp=int(clock.now) + 3600)
    await verifier.verify("short")
    await verifier.verify("long")
    clock.now += 11  # past "short"'s exp, within the 60 s cache TTL
    endpoint.answers["short"] = {"active": False}
    await refused(verifier, "short")
    await verifier.verify("long")
    assert len(endpoint.requests) == 3
    clock.now += 60  # past the cache TTL: asked again
    await verifier.verify("long")
    assert len(endpoint.requests) == 4


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["", "a b", "é", "x" * 20_000, "line\nbreak"])
async def test_b13_malformed_tokens_never_sent(
    verifier: IntrospectionVerifier, endpoint: Introspector, token: str
) -> None:
    await refused(verifier, token)
    assert endpoint.requests == []


# --- the real authorization server ---------------------------------------------------------


@pytest.fixture
def opaque_as(real_as_factory: Any) -> RealAS:
    client = {
        "client_id": "mcp-resource-server",
        "client_secret": "rs-secret",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "response_types": [],
        "scope": "mcp:tools mcp:read",
    }
    server: RealAS = real_as_factory(access_token_format="opaque", clients=[client])
    return server


def client_credentials_token(server: RealAS, resource: str) -> str:
    with httpx2.Client(trust_env=False, timeout=10) as http:
        response = http.post(
            server.token_endpoint,
            data={"grant_type": "client_credentials", "resource": resource, "scope": "mcp:read"},
            auth=("mcp-resource-server", "rs-secret"),
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.realas
@pytest.mark.anyio
async def test_real_as_introspection_s20(opaque_as: RealAS) -> None:
    mine = "http://127.0.0.1:8123/mcp"
    v = IntrospectionVerifier(
        introspection_endpoint=opaque_as.introspection_endpoint,
        client_id="mcp-resource-server",
        client_secret="rs-secret",
        resource=mine,
        issuer=opaque_as.issuer,
    )
    try:
        token = await v.verify(client_credentials_token(opaque_as, mine))
        assert token.issuer == opaque_as.issuer
        assert mine in token.audience
        assert "mcp:read" in token.scopes
        other = client_credentials_token(opaque_as, "http://127.0.0.1:8124/mcp")
        assert (await refused(v, other)).requirement == "S-20"
        assert (await refused(v, "not-a-token-at-all")).requirement == "B12"
    finally:
        await v.aclose()


# --- IdP knobs: issuers, audiences, scope_claims, allowed_client_ids (S-19, S-20) ------------


@pytest.fixture
async def knobs(endpoint: Introspector, clock: Clock) -> AsyncIterator[IntrospectionVerifier]:
    v = IntrospectionVerifier(
        introspection_endpoint=endpoint.url,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        resource=RES,
        issuers=(ISS, "https://as.example.com/v2"),
        audiences=("api://notes", "6e74172b-be56-4843-9ff4-e66a39bb12e3"),
        scope_claims=("scope", "permissions"),
        allowed_client_ids=("c1",),
        timeout=1.0,
        clock=clock,
    )
    yield v
    await v.aclose()


@pytest.mark.anyio
async def test_s19_s20_introspection_knobs_accept_each_listed_form(
    knobs: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    endpoint.answers["t-v2"] = active(
        clock, iss="https://as.example.com/v2", aud=["api://notes"], permissions=["mcp:write"]
    )
    token = await knobs.verify("t-v2")
    assert token.scopes == {"mcp:read", "mcp:write"}
    assert token.issuer == "https://as.example.com/v2"
    # no aud: bound by its client (Cognito-like); azp when there is no client_id
    endpoint.answers["t-noaud"] = active(clock, aud=None, client_id=None, azp="c1")
    assert (await knobs.verify("t-noaud")).client_id == "c1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "members",
    [
        {"iss": "https://as.example.com/v3"},  # B3: an issuer not listed
        {"iss": None},
        {"aud": RES},  # B1: the default audience is replaced by the listed ones
        {"aud": ["https://other.example.com/mcp"]},
        {"client_id": "c2"},  # a client not allowed
        {"aud": None, "client_id": None},  # no aud and no client
        {"aud": 7},  # a malformed aud is not "no aud"
        {"permissions": "mcp:write", "scope": 5},  # scope of the wrong type
    ],
)
async def test_b1_b3_s20_introspection_knobs_refuse(
    knobs: IntrospectionVerifier, endpoint: Introspector, clock: Clock, members: dict[str, Any]
) -> None:
    endpoint.answers["t-bad"] = active(clock, aud="api://notes") | {
        k: v for k, v in members.items() if v is not None
    }
    for name, value in members.items():
        if value is None:
            endpoint.answers["t-bad"].pop(name, None)
    await refused(knobs, "t-bad")


@pytest.mark.anyio
async def test_s19_introspection_scopes_in_an_unlisted_claim_grant_nothing(
    knobs: IntrospectionVerifier, endpoint: Introspector, clock: Clock
) -> None:
    endpoint.answers["t-scp"] = active(clock, aud="api://notes", scp=["mcp:admin"], roles=["x"])
    assert (await knobs.verify("t-scp")).scopes == {"mcp:read"}
