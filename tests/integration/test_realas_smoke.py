"""The test bed itself: the real authorization server (oidc-provider) and the uvicorn helper.

Raw httpx2 against ``tests/realas/launcher.mjs`` on 127.0.0.1, no zeroauth code: RFC 8414 /
OIDC Discovery metadata at every well-known form (MCP C-14, C-15) and the switch that turns
forms off, RFC 7591 registration, RFC 6749 code flow with RFC 7636 PKCE and RFC 8707
`resource`, RFC 9207 `iss`, RFC 9068 JWT access tokens verified against the JWKS, rotating
refresh tokens, CIMD on loopback, client credentials and RFC 7662 introspection.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi, serve_asgi_async
from tests.realas.fixtures import (
    FORMS,
    RealAS,
    RealASFactory,
    authorize,
    exchange_code,
    obtain_tokens,
    pkce_pair,
    refresh,
    register_client,
)

realas = pytest.mark.realas
REDIRECT = "http://127.0.0.1:9/callback"  # never requested: the flow stops at the redirect
RESOURCE = "http://127.0.0.1:8765/mcp"
StartAS = RealASFactory


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(trust_env=False, timeout=10) as client:
        yield client


def verify_access_token(
    http: httpx2.Client, server: RealAS, token: str, alg: str
) -> dict[str, Any]:
    """RFC 9068: `typ` at+jwt, signature by a key of the AS's JWKS, `iss`, `aud`."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == alg
    jwks = jwt.PyJWKSet.from_dict(http.get(server.jwks_uri).json())
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key.key,
        algorithms=[alg],
        audience=RESOURCE,
        issuer=server.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"]},
    )
    return claims


# --- metadata ---------------------------------------------------------------------------------


@realas
@pytest.mark.parametrize("form", FORMS)
def test_c14_path_issuer_metadata_at_every_form(
    real_as: RealAS, http: httpx2.Client, form: str
) -> None:
    assert real_as.issuer == f"http://127.0.0.1:{real_as.port}/realms/test"
    response = http.get(real_as.well_known_urls[form])
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == real_as.issuer  # C-17: identical to the issuer
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["registration_endpoint"] == real_as.registration_endpoint
    assert doc["token_endpoint"] == real_as.token_endpoint
    assert doc["jwks_uri"] == real_as.jwks_uri
    assert doc["introspection_endpoint"] == real_as.introspection_endpoint
    assert {"mcp:tools", "mcp:read", "mcp:write"} <= set(doc["scopes_supported"])
    assert "client_id_metadata_document_supported" not in doc  # only with --cimd


@realas
def test_c15_root_issuer_serves_both_root_forms(
    real_as_factory: StartAS, http: httpx2.Client
) -> None:
    server = real_as_factory(issuer_path="")
    assert server.issuer == server.base_url
    for url in (server.metadata_url, server.openid_configuration_url):
        assert url in (
            f"{server.base_url}/.well-known/oauth-authorization-server",
            f"{server.base_url}/.well-known/openid-configuration",
        )
        doc = http.get(url).json()
        assert doc["issuer"] == server.issuer
        assert doc["authorization_endpoint"] == f"{server.base_url}/auth"


@realas
def test_trailing_slash_issuer_is_kept_exactly(
    real_as_factory: StartAS, http: httpx2.Client
) -> None:
    server = real_as_factory(issuer_path="/")  # Auth0 style: "https://tenant.auth0.com/"
    assert server.issuer == f"{server.base_url}/"
    for url in (server.metadata_url, server.openid_configuration_url):
        assert http.get(url).json()["issuer"] == server.issuer


@realas
@pytest.mark.parametrize("form", FORMS)
def test_disable_form_turns_exactly_that_form_off(
    real_as_factory: StartAS, http: httpx2.Client, form: str
) -> None:
    server = real_as_factory(disable_forms=[form])
    for name, url in server.well_known_urls.items():
        expected = 404 if name == form else 200
        assert http.get(url).status_code == expected, (name, url)


@realas
@pytest.mark.parametrize(("alias", "path"), [("oauth-root", "oauth"), ("openid-root", "openid")])
def test_disable_form_root_issuer(
    real_as_factory: StartAS, http: httpx2.Client, alias: str, path: str
) -> None:
    server = real_as_factory(issuer_path="", disable_forms=[alias])
    oauth, openid = server.metadata_url, server.openid_configuration_url
    assert http.get(oauth).status_code == (404 if path == "oauth" else 200)
    assert http.get(openid).status_code == (404 if path == "openid" else 200)


SHAPES = {
    # Keycloak before 26.4: only the forms appended to /realms/<name>.
    "keycloak-legacy": ("/realms/x", ["oauth-inserted", "openid-inserted"]),
    # Keycloak 26.4+: adds the RFC 8414 inserted form, not the OpenID inserted one.
    "keycloak-26.4": ("/realms/x", ["openid-inserted"]),
    # Entra ID style: OpenID Discovery appended to /<tenant>/v2.0 only.
    "entra": ("/abc/v2.0", ["oauth-inserted", "openid-inserted", "oauth-appended"]),
}


@realas
@pytest.mark.parametrize("shape", SHAPES)
def test_c14_real_world_metadata_shapes(
    real_as_factory: StartAS, http: httpx2.Client, shape: str
) -> None:
    issuer_path, disabled = SHAPES[shape]
    server = real_as_factory(issuer_path=issuer_path, disable_forms=disabled)
    assert server.issuer == f"{server.base_url}{issuer_path}"
    for name, url in server.well_known_urls.items():
        response = http.get(url)
        if name in disabled:
            assert response.status_code == 404, name
        else:
            assert response.json()["issuer"] == server.issuer, name


@realas
def test_no_dcr_switch(real_as_factory: StartAS, http: httpx2.Client) -> None:
    server = real_as_factory(dcr=False)
    assert "registration_endpoint" not in http.get(server.metadata_url).json()
    assert http.post(server.registration_endpoint, json={}).status_code == 404


# --- the full flow ----------------------------------------------------------------------------


@realas
def test_full_flow_metadata_dcr_pkce_resource_token_jwks_refresh(
    real_as: RealAS, http: httpx2.Client
) -> None:
    doc = http.get(real_as.metadata_url).json()
    assert doc["issuer"] == real_as.issuer
    # DCR with a `scope` naming resource scopes (the TypeScript SDK always sends one).
    client = register_client(http, real_as, REDIRECT, scope="mcp:tools mcp:read")
    assert client["token_endpoint_auth_method"] == "none"
    verifier, challenge = pkce_pair()
    result = authorize(
        http,
        real_as,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        state="st-1",
        scope="mcp:tools mcp:read",
        resource=RESOURCE,
        login_hint="bob",
    )
    assert result.params["state"] == "st-1"
    assert result.params["iss"] == real_as.issuer  # RFC 9207
    assert result.hops == 5  # auth -> login -> resume -> consent -> resume -> redirect_uri
    response = exchange_code(
        http,
        real_as,
        code=result.params["code"],
        verifier=verifier,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        resource=RESOURCE,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "mcp:tools mcp:read"
    claims = verify_access_token(http, real_as, tokens["access_token"], "RS256")
    assert claims["aud"] == RESOURCE
    assert claims["sub"] == "bob"
    assert claims["client_id"] == client["client_id"]
    assert claims["scope"] == "mcp:tools mcp:read"

    # Refresh rotates: a new refresh token and a new access token for the same resource.
    rotated = refresh(
        http, real_as, refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert verify_access_token(http, real_as, new["access_token"], "RS256")["aud"] == RESOURCE
    # Replaying the rotated-out token fails, and revokes the whole grant (library policy).
    replay = refresh(
        http, real_as, refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    after = refresh(
        http, real_as, refresh_token=new["refresh_token"], client_id=client["client_id"]
    )
    assert after.json()["error"] == "invalid_grant"


@realas
def test_es256_access_tokens(real_as_factory: StartAS, http: httpx2.Client) -> None:
    server = real_as_factory(alg="ES256")
    tokens = obtain_tokens(server, resource=RESOURCE, user="carol", scope="mcp:read")
    claims = verify_access_token(http, server, tokens["access_token"], "ES256")
    assert (claims["sub"], claims["scope"]) == ("carol", "mcp:read")


@realas
def test_default_scope_injected_when_request_has_none(real_as: RealAS, http: httpx2.Client) -> None:
    tokens = obtain_tokens(real_as, resource=RESOURCE)  # no scope at all
    claims = verify_access_token(http, real_as, tokens["access_token"], "RS256")
    assert claims["scope"] == "mcp:tools mcp:read mcp:write"
    assert claims["sub"] == "alice"  # no login_hint -> the default user
    # A client registered with a scope gets that scope by default (Keycloak does the same).
    client = register_client(http, real_as, REDIRECT, scope="mcp:read")
    verifier, challenge = pkce_pair()
    result = authorize(
        http,
        real_as,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        resource=RESOURCE,
    )
    response = exchange_code(
        http,
        real_as,
        code=result.params["code"],
        verifier=verifier,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
    )
    assert response.json()["scope"] == "mcp:read"


@realas
def test_deny_hint_ends_with_access_denied(real_as: RealAS, http: httpx2.Client) -> None:
    client = register_client(http, real_as, REDIRECT)
    _, challenge = pkce_pair()
    result = authorize(
        http,
        real_as,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        state="st-2",
        resource=RESOURCE,
        login_hint="deny",
    )
    assert result.params["error"] == "access_denied"
    assert result.params["state"] == "st-2"
    assert result.params["iss"] == real_as.issuer
    assert "code" not in result.params


@realas
def test_pkce_is_required_and_checked(real_as: RealAS, http: httpx2.Client) -> None:
    client = register_client(http, real_as, REDIRECT)
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT}
    response = http.get(real_as.authorization_endpoint, params=query)
    location = httpx2.URL(response.headers["location"])
    assert location.params["error"] == "invalid_request"
    assert "PKCE" in location.params["error_description"]
    # A wrong code_verifier is refused at the token endpoint.
    _, challenge = pkce_pair()
    result = authorize(
        http,
        real_as,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        resource=RESOURCE,
    )
    wrong, _ = pkce_pair()
    response = exchange_code(
        http,
        real_as,
        code=result.params["code"],
        verifier=wrong,
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
    )
    assert response.json()["error"] == "invalid_grant"


# --- CIMD, static clients, introspection -----------------------------------------------------


def client_metadata_app(documents: dict[str, dict[str, Any]]) -> Callable[[str], Starlette]:
    """A factory for a Starlette app serving CIMD documents; the client_id is an https URL on
    this loopback port (the launcher fetches it over plain http: tests only)."""

    def factory(base_url: str) -> Starlette:
        https_base = base_url.replace("http://", "https://", 1)

        async def document(request: Request) -> JSONResponse:
            name = request.path_params["name"]
            return JSONResponse({"client_id": f"{https_base}/{name}", **documents[name]})

        return Starlette(routes=[Route("/{name}", document)])

    return factory


@realas
def test_cimd_client_on_loopback(real_as_factory: StartAS, http: httpx2.Client) -> None:
    server = real_as_factory(cimd=True)
    doc = http.get(server.metadata_url).json()
    assert doc["client_id_metadata_document_supported"] is True
    documents = {
        "client.json": {
            "client_name": "cimd smoke",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
    }
    with serve_asgi(factory=client_metadata_app(documents)) as served:
        client_id = f"https://127.0.0.1:{served.port}/client.json"
        verifier, challenge = pkce_pair()
        result = authorize(
            http,
            server,
            client_id=client_id,
            redirect_uri=REDIRECT,
            code_challenge=challenge,
            resource=RESOURCE,
            scope="mcp:tools",
        )
        response = exchange_code(
            http,
            server,
            code=result.params["code"],
            verifier=verifier,
            client_id=client_id,
            redirect_uri=REDIRECT,
        )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" in tokens
    claims = verify_access_token(http, server, tokens["access_token"], "RS256")
    assert claims["client_id"] == client_id


@realas
def test_cimd_refuses_non_loopback_client_id_without_fetching(
    real_as_factory: StartAS, http: httpx2.Client
) -> None:
    server = real_as_factory(cimd=True, verbose=True)
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": "https://client.example/cimd.json",  # allowFetch refuses: never contacted
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = http.get(server.authorization_endpoint, params=query)
    assert response.status_code == 400
    assert "invalid_client" in response.text
    assert "refusing non-loopback fetch" not in server.log()  # stopped before the transport


@realas
def test_static_confidential_client_credentials_and_introspection(
    real_as_factory: StartAS, http: httpx2.Client
) -> None:
    clients = [
        {
            "client_id": "gateway",
            "client_secret": "gateway-secret",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        {
            "client_id": "resource-server",
            "client_secret": "rs-secret",
            "grant_types": [],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_post",
        },
    ]
    server = real_as_factory(clients=clients, access_token_format="opaque")
    response = http.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials", "resource": RESOURCE, "scope": "mcp:read"},
        auth=("gateway", "gateway-secret"),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert token.count(".") == 0  # opaque: introspection is the way to verify it
    introspected = http.post(
        server.introspection_endpoint,
        data={"token": token, "client_id": "resource-server", "client_secret": "rs-secret"},
    ).json()
    assert introspected["active"] is True
    assert introspected["aud"] == RESOURCE
    assert introspected["scope"] == "mcp:read"
    assert introspected["client_id"] == "gateway"
    assert introspected["iss"] == server.issuer
    inactive = http.post(
        server.introspection_endpoint,
        data={"token": "nope", "client_id": "resource-server", "client_secret": "rs-secret"},
    ).json()
    assert inactive == {"active": False}


# --- the uvicorn helper -----------------------------------------------------------------------


def hello_app(events: list[str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello from {request.url.port}")

    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_serve_asgi_in_a_thread_serves_and_tears_down(http: httpx2.Client) -> None:
    events: list[str] = []
    with serve_asgi(hello_app(events)) as served:
        assert isinstance(served, ServedApp)
        assert served.base_url == f"http://127.0.0.1:{served.port}"
        assert events == ["startup"]
        assert http.get(served.url("/")).text == f"hello from {served.port}"
    assert events == ["startup", "shutdown"]
    assert port_is_closed(served.port)


def test_serve_asgi_factory_knows_its_url(http: httpx2.Client) -> None:
    seen: list[str] = []

    def factory(base_url: str) -> Starlette:
        seen.append(base_url)
        return hello_app([])

    with serve_asgi(factory=factory) as served:
        assert seen == [served.base_url]
        assert http.get(served.url("/")).status_code == 200


def test_serve_asgi_reports_a_failed_startup() -> None:
    problems = ["lifespan boom"]

    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        if problems:
            raise RuntimeError(problems[0])
        yield  # pragma: no cover - never reached

    with pytest.raises(RuntimeError, match="did not start"), serve_asgi(Starlette(lifespan=broken)):
        pass


@pytest.mark.anyio
async def test_serve_asgi_async_in_the_test_loop() -> None:
    events: list[str] = []
    async with serve_asgi_async(hello_app(events)) as served:
        assert events == ["startup"]
        async with httpx2.AsyncClient(trust_env=False) as client:
            response = await client.get(served.url("/"))
        assert response.text == f"hello from {served.port}"
    assert events == ["startup", "shutdown"]
    assert port_is_closed(served.port)


@pytest.mark.anyio
async def test_serve_asgi_async_tears_down_when_the_body_fails() -> None:
    events: list[str] = []
    with pytest.raises(ValueError, match="body failed"):
        async with serve_asgi_async(hello_app(events)):
            raise ValueError("body failed")
    assert events == ["startup", "shutdown"]
