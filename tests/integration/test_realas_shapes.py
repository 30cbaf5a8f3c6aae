"""The test bed's IdP shapes (``--shape entra|okta``) against zeroauth's client and verifier.

The shapes are what an authorization bridge meets upstream (docs/realas.md, "IdP shapes"):

- **entra**: issuer ``/<tenant>/v2.0``, only ``<issuer>/.well-known/openid-configuration``
  (no RFC 8414 form), no registration endpoint, metadata without
  ``code_challenge_methods_supported`` (C-18: the profile's ``assume_s256_issuers``), no RFC
  9207 ``iss`` on the authorization response, RFC 8707 ``resource`` rejected with
  ``invalid_target`` / AADSTS9010010 at the authorization and the token endpoint, scopes named
  ``api://<app-id>/<value>``, v2 access tokens (``typ: JWT``, ``aud`` = the app's client ID,
  ``scp`` a space-separated string of short names, ``roles`` for app-only tokens, ``azp``,
  ``tid``, ``oid``, ``ver: "2.0"``);
- **okta**: custom authorization server ``/oauth2/<id>``, its Audience as ``aud`` of every
  token, ``scp`` a JSON array, ``cid``, ``uid``, ``ver: 1``, no ``typ``.

Each with the headless auto-approve of the launcher, a pre-registered confidential client
(``client_secret_basic`` and ``_post``), and zeroauth's client (C-27 pre-registered, C-33
``send_resource=False``, C-37 ``scope_prefix``) and verifier (S-19, S-20; ``verifier_options``,
``issuers``/``audiences``/``scope_claims``) against it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.realas.fixtures import (
    ENTRA_APP_ID,
    ENTRA_TENANT,
    OKTA_AUDIENCE,
    RealAS,
    RealASFactory,
    authorize,
    confidential_client,
    exchange_code,
    pkce_pair,
)
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.errors import InvalidToken
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.idp import ENTRA, OKTA, client_options, resource_options, verifier_options
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth, current_token

pytestmark = pytest.mark.realas

APP_ID_URI = f"api://{ENTRA_APP_ID}"
REDIRECT = "http://127.0.0.1:9/callback"  # any port: the clients are registered as native
RESOURCE = "http://127.0.0.1:8765/mcp"
CLIENT, SECRET = "bridge", "bridge-secret"


def _entra(factory: RealASFactory, **switches: Any) -> RealAS:
    clients = [
        confidential_client(
            CLIENT,
            SECRET,
            grant_types=("authorization_code", "refresh_token", "client_credentials"),
        ),
        confidential_client("post-client", SECRET, auth_method="client_secret_post"),
    ]
    return factory(shape="entra", scopes="notes.read notes.write", clients=clients, **switches)


def _okta(factory: RealASFactory, **switches: Any) -> RealAS:
    clients = [confidential_client(CLIENT, SECRET, auth_method="client_secret_post")]
    return factory(shape="okta", scopes="notes:read notes:write", clients=clients, **switches)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(trust_env=False, timeout=10) as client:
        yield client


def _jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * 3))
        return decoded

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def _code_flow(
    http: httpx2.Client,
    server: RealAS,
    *,
    scope: str,
    client_id: str = CLIENT,
    post: bool = False,
    authorize_params: dict[str, str] | None = None,
    token_params: dict[str, str] | None = None,
) -> httpx2.Response:
    """The confidential client's code flow (RFC 6749 4.1, PKCE), secret in Basic or the body."""
    verifier, challenge = pkce_pair()
    result = authorize(
        http,
        server,
        client_id=client_id,
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        scope=scope,
        state="s1",
        **(authorize_params or {}),
    )
    assert "code" in result.params, result.params
    assert result.hops == 5  # /auth -> login -> /auth/<uid> -> consent -> /auth/<uid> -> back
    body = {"redirect_uri": REDIRECT, **(token_params or {})}
    if post:
        body |= {"client_id": client_id, "client_secret": SECRET}
        return exchange_code(http, server, code=result.params["code"], verifier=verifier, **body)
    return http.post(
        server.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "code_verifier": verifier,
            **body,
        },
        auth=(client_id, SECRET),
    )


# --- Entra-like ------------------------------------------------------------------------------


def test_c14_entra_shape_serves_only_openid_discovery_under_the_tenant(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    server = _entra(real_as_factory)
    assert server.issuer == f"{server.base_url}/{ENTRA_TENANT}/v2.0"
    statuses = {form: http.get(url).status_code for form, url in server.well_known_urls.items()}
    assert statuses == {
        "oauth-inserted": 404,
        "openid-inserted": 404,
        "openid-appended": 200,
        "oauth-appended": 404,
    }
    doc = http.get(server.openid_configuration_url).json()
    assert doc["issuer"] == server.issuer
    # no DCR, no PKCE member (C-18), no RFC 9207 member, Entra's keys path
    for member in (
        "registration_endpoint",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
        "dpop_signing_alg_values_supported",
    ):
        assert member not in doc, member
    assert doc["jwks_uri"] == server.shape_jwks_uri
    assert doc["jwks_uri"].endswith(f"/{ENTRA_TENANT}/discovery/v2.0/keys")
    assert http.get(doc["jwks_uri"]).json()["keys"]


def test_c33_entra_shape_rejects_resource_at_the_authorization_endpoint(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    """RFC 8707 section 2: an unacceptable resource is invalid_target, sent to the redirect URI
    (RFC 6749 4.1.2.1) with Entra's AADSTS9010010 and the state; no iss (Entra sends none)."""
    server = _entra(real_as_factory)
    _, challenge = pkce_pair()
    result = authorize(
        http,
        server,
        client_id=CLIENT,
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        scope=f"openid {APP_ID_URI}/notes.read",
        state="s1",
        resource=RESOURCE,
    )
    assert result.params["error"] == "invalid_target"
    assert "AADSTS9010010" in result.params["error_description"]
    assert result.params["state"] == "s1"
    assert "iss" not in result.params
    assert "code" not in result.params


def test_c33_entra_shape_rejects_resource_at_the_token_endpoint(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    server = _entra(real_as_factory)
    response = _code_flow(
        http, server, scope=f"openid {APP_ID_URI}/notes.read", token_params={"resource": RESOURCE}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert "AADSTS9010010" in response.json()["error_description"]


@pytest.mark.parametrize("post", [False, True], ids=["client_secret_basic", "client_secret_post"])
def test_entra_shape_issues_v2_access_tokens(
    post: bool, real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    """Claims as Entra's access-token claims reference describes v2 delegated tokens."""
    server = _entra(real_as_factory)
    client_id = "post-client" if post else CLIENT
    response = _code_flow(
        http,
        server,
        client_id=client_id,
        post=post,
        scope=f"openid profile offline_access {APP_ID_URI}/notes.read {APP_ID_URI}/notes.write",
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["refresh_token"]
    assert tokens["id_token"]
    header, claims = _jwt(tokens["access_token"])
    assert header["typ"] == "JWT"
    assert claims["iss"] == server.issuer
    assert claims["aud"] == ENTRA_APP_ID
    assert sorted(claims["scp"].split(" ")) == ["notes.read", "notes.write"]
    assert claims["azp"] == client_id
    assert claims["azpacr"] == "1"
    assert claims["tid"] == ENTRA_TENANT
    assert claims["ver"] == "2.0"
    assert claims["oid"]
    assert "scope" not in claims
    assert "client_id" not in claims
    _, id_claims = _jwt(tokens["id_token"])
    assert id_claims["aud"] == client_id
    assert id_claims["tid"] == ENTRA_TENANT
    # the refresh keeps the shape (RFC 6749 section 6), rotated
    refreshed = http.post(
        server.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, SECRET) if not post else None,
    ) if not post else http.post(
        server.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
              "client_id": client_id, "client_secret": SECRET},
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    assert _jwt(refreshed.json()["access_token"])[1]["aud"] == ENTRA_APP_ID


@pytest.mark.anyio
async def test_s19_verifier_options_accept_entra_shaped_tokens(
    real_as_factory: RealASFactory,
) -> None:
    """verifier_options(ENTRA, audience=<app client ID>, app_id_uri=...) accepts the delegated
    token (scp string) and the app-only one (roles array); another app's audience is S-20."""
    server = _entra(real_as_factory)
    with httpx2.Client(trust_env=False, timeout=10) as http:
        delegated = _code_flow(http, server, scope=f"openid {APP_ID_URI}/notes.read")
        app_only = http.post(
            server.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "resource": APP_ID_URI,
                "scope": f"{APP_ID_URI}/notes.write",
            },
            auth=(CLIENT, SECRET),
        )
    assert app_only.status_code == 200, app_only.text
    options = verifier_options(
        ENTRA,
        issuer=server.issuer,
        resource=RESOURCE,
        audience=ENTRA_APP_ID,
        app_id_uri=APP_ID_URI,
        jwks_uri=server.shape_jwks_uri,
    )
    assert options["audiences"] == (ENTRA_APP_ID, APP_ID_URI)
    verifier = JWTVerifier(**options)
    other_app = JWTVerifier(**{**options, "audiences": ("11111111-2222-3333-4444-555555555555",)})
    try:
        access = await verifier.verify(delegated.json()["access_token"])
        assert access.subject == "alice"
        assert access.client_id == CLIENT
        assert access.scopes == {"notes.read"}
        assert access.claims["tid"] == ENTRA_TENANT
        app = await verifier.verify(app_only.json()["access_token"])
        assert app.scopes == {"notes.write"}
        assert app.subject == CLIENT
        with pytest.raises(InvalidToken) as refused:
            await other_app.verify(delegated.json()["access_token"])
        assert refused.value.requirement == "S-20"
    finally:
        await verifier.aclose()
        await other_app.aclose()


async def _whoami(request: Request) -> JSONResponse:
    token = current_token()
    body = json.loads(await request.body())
    result = {
        "sub": token.subject if token else None,
        "aud": list(token.audience) if token else [],
        "scopes": sorted(token.scopes) if token else [],
        "client_id": token.client_id if token else None,
    }
    return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": result})


def test_c27_c33_c37_zeroauth_gets_a_token_from_the_entra_shape(
    real_as_factory: RealASFactory,
) -> None:
    """zeroauth's client with the pre-registered confidential client, send_resource=False and
    scope_prefix api://<app-id>/ (client_options(ENTRA, ...)) into a BearerAuth server built
    from verifier_options/resource_options: it never sends resource, Entra never rejects it."""
    server = _entra(real_as_factory, verbose=True)

    def protected(base_url: str) -> Any:
        resource = f"{base_url}/mcp"
        verifier = JWTVerifier(
            **verifier_options(
                ENTRA,
                issuer=server.issuer,
                resource=resource,
                audience=ENTRA_APP_ID,
                app_id_uri=APP_ID_URI,
                jwks_uri=server.shape_jwks_uri,
            )
        )
        app = Starlette(routes=[Route("/mcp", _whoami, methods=["POST"])])
        options = resource_options(
            ENTRA, issuer=server.issuer, scopes=["notes.read"], app_id_uri=APP_ID_URI
        )
        return BearerAuth(app, verifier=verifier, resource=resource, **options)

    options = client_options(
        ENTRA, issuer=server.issuer, client_id=CLIENT, client_secret=SECRET, app_id_uri=APP_ID_URI
    )
    assert options["send_resource"] is False
    assert options["scope_prefix"] == f"{APP_ID_URI}/"
    with serve_asgi(factory=protected) as mcp:
        auth = ZeroAuth(
            **options,
            url_policy=DEVELOPMENT,
            user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
            store=MemoryTokenStore(),
        )
        with httpx2.Client(auth=auth, trust_env=False, timeout=20) as client:
            response = client.post(mcp.url("/mcp"), json={"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["sub"] == "alice"
    assert result["client_id"] == CLIENT
    assert result["aud"] == [ENTRA_APP_ID]
    assert "notes.read" in result["scopes"]
    log = server.log()
    assert "resource=" not in log
    assert "invalid_target" not in log
    assert "grant.success authorization_code" in log


# --- Okta-like -------------------------------------------------------------------------------


def test_okta_shape_custom_authorization_server(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    server = _okta(real_as_factory)
    assert server.issuer.endswith("/oauth2/aus1zeroauthtest")
    served = {form for form, url in server.well_known_urls.items() if http.get(url).is_success}
    assert served == set(OKTA.discovery_forms)
    doc = http.get(server.metadata_url).json()
    assert doc["issuer"] == server.issuer
    assert "registration_endpoint" not in doc
    assert doc["jwks_uri"] == f"{server.issuer}/v1/keys"
    response = _code_flow(http, server, post=True, scope="openid offline_access notes:read")
    assert response.status_code == 200, response.text
    header, claims = _jwt(response.json()["access_token"])
    assert "typ" not in header
    assert claims["aud"] == OKTA_AUDIENCE
    assert claims["scp"] == ["notes:read"]  # a JSON array
    assert claims["cid"] == CLIENT
    assert claims["uid"].startswith("00u")
    assert claims["ver"] == 1
    assert claims["jti"].startswith("AT.")
    assert "scope" not in claims
    assert "client_id" not in claims


@pytest.mark.anyio
async def test_s19_verifier_accepts_okta_shaped_tokens(real_as_factory: RealASFactory) -> None:
    """verifier_options(OKTA, audience=<the AS's Audience>) and the explicit knobs
    (issuers / audiences / scope_claims) read the scp array."""
    server = _okta(real_as_factory)
    with httpx2.Client(trust_env=False, timeout=10) as http:
        response = _code_flow(http, server, post=True, scope="openid notes:read notes:write")
    token = response.json()["access_token"]
    options = verifier_options(
        OKTA, issuer=server.issuer, resource=RESOURCE, audience=OKTA_AUDIENCE,
        jwks_uri=server.shape_jwks_uri,
    )  # fmt: skip
    explicit = JWTVerifier(
        issuers={server.issuer: server.shape_jwks_uri},
        resource=RESOURCE,
        audiences=(OKTA_AUDIENCE, RESOURCE),
        scope_claims=("scp",),
        allowed_client_ids={CLIENT},
    )
    scope_only = JWTVerifier(
        issuer=server.issuer, jwks_uri=server.shape_jwks_uri, resource=RESOURCE,
        audiences=(OKTA_AUDIENCE,), scope_claims=("scope",),
    )  # fmt: skip
    verifier = JWTVerifier(**options)
    try:
        for v in (verifier, explicit):
            access = await v.verify(token)
            assert access.scopes == {"notes:read", "notes:write"}
            assert access.subject == "alice"
        assert (await explicit.verify(token)).client_id == CLIENT
        # only the listed claims are read: `scope` is absent, so no scopes (not an error)
        assert (await scope_only.verify(token)).scopes == frozenset()
    finally:
        for v in (verifier, explicit, scope_only):
            await v.aclose()
