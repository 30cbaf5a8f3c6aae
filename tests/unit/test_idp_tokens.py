"""Real IdPs' access tokens through a real ``JWTVerifier`` built by ``verifier_options``.

Each token has the claims, issuer form, ``aud`` shape and scope claims the IdP documents for its
access tokens (Entra ID v1 and v2 delegated and app-only, Okta custom AS, Auth0 with RBAC
permissions, Cognito, Keycloak), signed by keys generated here. The JWKS are served over real
HTTP on 127.0.0.1 (``tests/helpers/asgi_server.py``) at the IdP's own paths, one key set per
Entra issuer form; the verifier's JWKS URLs are moved from the IdP host to the loopback server,
nothing else changes. Attacks: another tenant or issuer, a key of the other issuer form, an
audience not listed, a Cognito client not allowed (and Cognito ID tokens), scopes smuggled in a
claim the profile does not list, scope claims of the wrong type (SECURITY B1, B3; S-19, S-20).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.errors import InvalidToken
from zeroauth.idp import (
    AUTH0,
    COGNITO,
    ENTRA,
    ENTRA_V1_TOKENS,
    KEYCLOAK,
    OKTA,
    IdPProfile,
    authorization_server,
    verifier_options,
)
from zeroauth.server import AccessToken
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier

pytestmark = pytest.mark.all_backends

RESOURCE = "https://mcp.example.com/mcp"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
API_APP = "6e74172b-be56-4843-9ff4-e66a39bb12e3"  # the API app's Application (client) ID
APP_ID_URI = "api://mcp-notes"
CLIENT_APP = "0b8f7b36-1d3c-4c7e-9a59-2f6f1f5e8a11"
GRAPH = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's app ID
COGNITO_CLIENT = "4c6pquq3d2n4hkv1h6qkf2u0bs"
IDP_HOSTS = (
    "https://login.microsoftonline.com",
    "https://acme.okta.com",
    "https://tenant.eu.auth0.com",
    "https://cognito-idp.eu-west-1.amazonaws.com",
    "https://kc.example.com",
)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


V2_KEY, V1_KEY, IDP_KEY, EVIL_KEY = _key(), _key(), _key(), _key()


def _jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [jwk | {"kid": kid, "use": "sig", "kty": "RSA"}]}


# path on the loopback server -> the key set the IdP would serve there
KEY_SETS: dict[str, dict[str, Any]] = {
    f"/{TENANT}/discovery/v2.0/keys": _jwks(V2_KEY, "v2"),
    f"/{TENANT}/discovery/keys": _jwks(V1_KEY, "v1"),
    "/oauth2/aus1abcd/v1/keys": _jwks(IDP_KEY, "okta"),
    "/.well-known/jwks.json": _jwks(IDP_KEY, "auth0"),
    "/eu-west-1_AbCdEf/.well-known/jwks.json": _jwks(IDP_KEY, "cognito"),
    "/realms/mcp/protocol/openid-connect/certs": _jwks(IDP_KEY, "kc"),
}


@pytest.fixture(scope="module")
def jwks_base() -> Iterator[str]:
    async def keys(request: Request) -> Response:
        found = KEY_SETS.get(request.url.path)
        return JSONResponse(found) if found else Response(status_code=404)

    app = Starlette(routes=[Route("/{path:path}", keys)])
    with serve_asgi(app) as served:
        yield served.base_url


def _loopback(url: str, base: str) -> str:
    for host in IDP_HOSTS:
        if url.startswith(host + "/"):
            return base + url[len(host) :]
    raise AssertionError(url)


@pytest.fixture
async def build(jwks_base: str) -> AsyncIterator[Any]:
    made: list[JWTVerifier] = []

    def make(profile: IdPProfile, issuer: str, **kwargs: Any) -> JWTVerifier:
        options = verifier_options(profile, issuer=issuer, resource=RESOURCE, **kwargs)
        if "issuers" in options:
            options["issuers"] = {i: _loopback(u, jwks_base) for i, u in options["issuers"].items()}
        else:
            options["jwks_uri"] = _loopback(options["jwks_uri"], jwks_base)
        verifier = JWTVerifier(**options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


NULL = object()  # a claim that is present with the JSON value null


def sign(claims: dict[str, Any], *, key: rsa.RSAPrivateKey, kid: str, **header: Any) -> str:
    """RS256 over exactly these claims (``None`` drops one); PyJWS, so any JSON goes in."""
    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": now + 3600} | claims
    kept = {k: (None if v is NULL else v) for k, v in body.items() if v is not None}
    payload = json.dumps(kept).encode()
    return jwt.PyJWS().encode(payload, key, "RS256", {"kid": kid} | header)


async def refused(verifier: JWTVerifier, token: str, *words: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await verifier.verify(token)
    err = info.value
    assert err.status_code == 401
    assert err.error == "invalid_token"
    for text in (str(err), err.description or "", err.hint or ""):
        assert token not in text
        assert token.split(".")[1] not in text  # not even the payload
        assert token.split(".")[2] not in text
    for word in words:
        assert word in str(err)
    return err


# --- Microsoft Entra ID ----------------------------------------------------------------------

V2_ISS = f"https://login.microsoftonline.com/{TENANT}/v2.0"
V1_ISS = f"https://sts.windows.net/{TENANT}/"
ENTRA_HEADER = {"typ": "JWT", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg"}  # x5t ignored: kid only


def entra_v2(**claims: Any) -> dict[str, Any]:
    """A delegated v2.0 access token (access-token-claims-reference.md sample)."""
    return {
        "aud": API_APP,
        "iss": V2_ISS,
        "aio": "AXQAi/8UAAAAtzlb7RPPTRpQ==",
        "azp": CLIENT_APP,
        "azpacr": "0",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "abeli@microsoft.com",
        "rh": "I",
        "scp": "access_as_user mcp.read",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": TENANT,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    } | claims


def entra_app_only(**claims: Any) -> dict[str, Any]:
    """A v2.0 client-credentials token: app roles in ``roles``, no ``scp``."""
    body = entra_v2(azpacr="1", roles=["Notes.Read.All", "Notes.Write.All"]) | claims
    for name in ("scp", "name", "preferred_username", "aio"):
        body.pop(name, None)
    return body


def entra_v1(**claims: Any) -> dict[str, Any]:
    """A v1.0 access token: sts.windows.net issuer, ``aud`` = the App ID URI, ``appid``."""
    return {
        "aud": APP_ID_URI,
        "iss": V1_ISS,
        "acr": "1",
        "amr": ["pwd", "mfa"],
        "appid": CLIENT_APP,
        "appidacr": "0",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "scp": "mcp.read",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": TENANT,
        "unique_name": "abeli@microsoft.com",
        "upn": "abeli@microsoft.com",
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "1.0",
    } | claims


def v2_token(claims: dict[str, Any]) -> str:
    return sign(claims, key=V2_KEY, kid="v2", **ENTRA_HEADER)


def v1_token(claims: dict[str, Any]) -> str:
    return sign(claims, key=V1_KEY, kid="v1", **ENTRA_HEADER)


@pytest.fixture
def entra(build: Any) -> JWTVerifier:
    verifier: JWTVerifier = build(
        ENTRA,
        authorization_server(ENTRA, tenant=TENANT),
        audience=API_APP,
        app_id_uri=APP_ID_URI,
    )
    return verifier


@pytest.mark.anyio
async def test_s19_entra_v2_delegated_token_scp_string(entra: JWTVerifier) -> None:
    access = await entra.verify(v2_token(entra_v2()))
    assert access.issuer == V2_ISS
    assert access.scopes == {"access_as_user", "mcp.read"}
    assert access.client_id == CLIENT_APP  # azp
    assert access.audience == (API_APP,)


@pytest.mark.anyio
async def test_s19_entra_app_only_token_roles_are_its_scopes(entra: JWTVerifier) -> None:
    access = await entra.verify(v2_token(entra_app_only()))
    assert access.scopes == {"Notes.Read.All", "Notes.Write.All"}


@pytest.mark.anyio
async def test_s19_entra_v1_and_v2_issuers_each_with_its_own_jwks(entra: JWTVerifier) -> None:
    """One tenant, two issuer forms (access-tokens.md): both accepted, each from its key set."""
    access = await entra.verify(v1_token(entra_v1()))
    assert access.issuer == V1_ISS
    assert access.client_id == CLIENT_APP  # appid
    assert access.audience == (APP_ID_URI,)  # the App ID URI is the second audience
    assert access.scopes == {"mcp.read"}
    assert (await entra.verify(v2_token(entra_v2(aud=APP_ID_URI)))).issuer == V2_ISS


@pytest.mark.anyio
async def test_b2_s19_entra_issuer_form_signed_with_the_other_forms_key_is_refused(
    entra: JWTVerifier,
) -> None:
    """The key comes from the JWKS of the issuer the token names, never from the other one."""
    crossed = sign(entra_v1(), key=V2_KEY, kid="v2", **ENTRA_HEADER)
    await refused(entra, crossed)
    crossed = sign(entra_v2(), key=V1_KEY, kid="v1", **ENTRA_HEADER)
    await refused(entra, crossed)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "iss",
    [
        f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
        f"https://sts.windows.net/{OTHER_TENANT}/",
        "https://login.microsoftonline.com/common/v2.0",
        f"https://login.microsoftonline.com/{TENANT}/v2.0/",
        f"https://sts.windows.net/{TENANT}",
        None,
        ["https://sts.windows.net/x/"],
    ],
)
async def test_b3_s19_entra_token_of_another_tenant_or_issuer_is_refused(
    entra: JWTVerifier, iss: Any
) -> None:
    """Even signed with the tenant's own key: another tenant's (or a near-miss) ``iss`` fails."""
    for token in (v2_token(entra_v2(iss=iss)), v1_token(entra_v1(iss=iss))):
        await refused(entra, token, "issuer mismatch")
    await refused(entra, sign(entra_v2(iss=iss), key=EVIL_KEY, kid="v2"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "aud", [GRAPH, "api://other-api", CLIENT_APP, RESOURCE + "/", [GRAPH, "api://x"], None, 7]
)
async def test_b1_s20_entra_audience_not_listed_is_refused(entra: JWTVerifier, aud: Any) -> None:
    await refused(entra, v2_token(entra_v2(aud=aud)), "audience")


@pytest.mark.anyio
async def test_b1_s20_entra_resource_url_is_no_audience_when_audiences_are_given(
    entra: JWTVerifier,
) -> None:
    """``audiences`` replaces the default (the resource URL): Entra never writes that URL."""
    await refused(entra, v2_token(entra_v2(aud=RESOURCE)), "audience")


@pytest.mark.anyio
async def test_s19_entra_scopes_smuggled_in_an_unlisted_claim_are_ignored(
    entra: JWTVerifier,
) -> None:
    """Entra reads ``scp`` and ``roles`` only: ``scope`` or ``permissions`` grant nothing."""
    access = await entra.verify(
        v2_token(entra_v2(scp="mcp.read", scope="mcp.admin", permissions=["mcp.admin"]))
    )
    assert access.scopes == {"mcp.read"}
    app_only = await entra.verify(v2_token(entra_app_only(scope="mcp.admin")))
    assert "mcp.admin" not in app_only.scopes


@pytest.mark.anyio
@pytest.mark.parametrize(
    "claims",
    [
        {"scp": 42},
        {"scp": ["mcp.read", 1]},
        {"scp": {"mcp.read": True}},
        {"scp": NULL},
        {"scp": True},
        {"roles": "Notes.Read.All"},  # a string: allowed (space-separated), checked below
        {"roles": [["Notes.Read.All"]]},
    ],
)
async def test_s19_entra_scope_claim_of_the_wrong_type_is_refused(
    entra: JWTVerifier, claims: dict[str, Any]
) -> None:
    token = v2_token(entra_v2(**claims))
    if claims.get("roles") == "Notes.Read.All":
        assert "Notes.Read.All" in (await entra.verify(token)).scopes
        return
    name = next(iter(claims))
    await refused(entra, token, f"the {name} claim is neither a string nor a list of strings")


@pytest.mark.anyio
async def test_s19_entra_v1_profile_accepts_both_forms_too(build: Any) -> None:
    verifier: JWTVerifier = build(
        ENTRA_V1_TOKENS, authorization_server(ENTRA, tenant=TENANT), audience=APP_ID_URI
    )
    assert verifier.issuers == (V1_ISS, V2_ISS)
    assert (await verifier.verify(v1_token(entra_v1()))).scopes == {"mcp.read"}
    await refused(verifier, v2_token(entra_v2()), "audience")  # aud = GUID: not configured


@pytest.mark.anyio
async def test_s20_entra_allowed_client_ids_restrict_the_calling_app(build: Any) -> None:
    verifier: JWTVerifier = build(
        ENTRA,
        authorization_server(ENTRA, tenant=TENANT),
        audience=API_APP,
        allowed_client_ids=[CLIENT_APP],
    )
    assert (await verifier.verify(v2_token(entra_v2()))).client_id == CLIENT_APP
    await refused(
        verifier, v2_token(entra_v2(azp="11111111-0000-0000-0000-000000000000")), "client"
    )
    # a token with aud never passes on its client alone (the Cognito path is for no aud only)
    await refused(verifier, v2_token(entra_v2(aud=GRAPH)), "audience")
    # with an allowlist, a token without aud is bound by its client alone (the Cognito rule)
    assert (await verifier.verify(v2_token(entra_v2(aud=None)))).audience == ()


# --- Okta --------------------------------------------------------------------------------

OKTA_ISS = "https://acme.okta.com/oauth2/aus1abcd"


def okta(**claims: Any) -> dict[str, Any]:
    """A custom authorization server's access token (Okta "Validate access tokens" sample)."""
    return {
        "ver": 1,
        "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": OKTA_ISS,
        "aud": RESOURCE,
        "cid": "0oa1y1mkjlWUzHCzN0h8",
        "uid": "00ujmkLgOwT7HWa3P0h7",
        "scp": ["openid", "mcp.read"],
        "auth_time": int(time.time()) - 60,
        "sub": "alice@example.com",
    } | claims


@pytest.mark.anyio
async def test_s19_okta_scp_array(build: Any) -> None:
    verifier: JWTVerifier = build(OKTA, OKTA_ISS)
    access = await verifier.verify(sign(okta(), key=IDP_KEY, kid="okta"))
    assert access.scopes == {"openid", "mcp.read"}
    assert access.subject == "alice@example.com"
    smuggled = sign(okta(scope="mcp.admin"), key=IDP_KEY, kid="okta")
    assert "mcp.admin" not in (await verifier.verify(smuggled)).scopes
    await refused(verifier, sign(okta(scp=[1, 2]), key=IDP_KEY, kid="okta"), "scp")
    await refused(verifier, sign(okta(aud="api://default"), key=IDP_KEY, kid="okta"), "audience")
    other_as = okta(iss="https://acme.okta.com/oauth2/default")
    await refused(verifier, sign(other_as, key=IDP_KEY, kid="okta"), "issuer")


@pytest.mark.anyio
async def test_s20_okta_allowed_client_ids_read_cid(build: Any) -> None:
    """Okta names the calling client in ``cid`` (no client_id/azp): the allowlist reads it."""
    verifier: JWTVerifier = build(OKTA, OKTA_ISS, allowed_client_ids=["0oa1y1mkjlWUzHCzN0h8"])
    assert (await verifier.verify(sign(okta(), key=IDP_KEY, kid="okta"))).client_id == (
        "0oa1y1mkjlWUzHCzN0h8"
    )
    await refused(verifier, sign(okta(cid="0oaOTHER"), key=IDP_KEY, kid="okta"), "client")
    # client_id, when present, wins over cid (RFC 9068 section 2.2)
    both = okta(client_id="0oaOTHER")
    await refused(verifier, sign(both, key=IDP_KEY, kid="okta"), "client")


# --- Auth0 -------------------------------------------------------------------------------

AUTH0_ISS = "https://tenant.eu.auth0.com/"


def auth0(**claims: Any) -> dict[str, Any]:
    """An Auth0 access token for an API with RBAC and "Add Permissions in the Access Token"."""
    return {
        "iss": AUTH0_ISS,
        "sub": "auth0|6433b7a8f1c43e3c1f2b1e4d",
        "aud": [RESOURCE, "https://tenant.eu.auth0.com/userinfo"],
        "azp": "gE7pY1tTMxQWcK4bQ4Fzq0nZxR6mSdPa",
        "scope": "openid profile mcp:read",
        "permissions": ["mcp:read", "mcp:write"],
    } | claims


@pytest.mark.anyio
async def test_s19_auth0_scope_and_permissions(build: Any) -> None:
    verifier: JWTVerifier = build(AUTH0, AUTH0_ISS)
    access = await verifier.verify(sign(auth0(), key=IDP_KEY, kid="auth0", typ="JWT"))
    assert access.scopes == {"openid", "profile", "mcp:read", "mcp:write"}
    assert access.client_id == "gE7pY1tTMxQWcK4bQ4Fzq0nZxR6mSdPa"
    smuggled = sign(auth0(scp="mcp:admin", roles=["mcp:admin"]), key=IDP_KEY, kid="auth0")
    assert "mcp:admin" not in (await verifier.verify(smuggled)).scopes
    await refused(verifier, sign(auth0(permissions={"a": 1}), key=IDP_KEY, kid="auth0"))
    other = auth0(aud=["https://other.example.com/api", "https://tenant.eu.auth0.com/userinfo"])
    await refused(verifier, sign(other, key=IDP_KEY, kid="auth0"), "audience")
    slashless = auth0(iss="https://tenant.eu.auth0.com")
    await refused(verifier, sign(slashless, key=IDP_KEY, kid="auth0"), "issuer")


# --- Amazon Cognito ----------------------------------------------------------------------

COGNITO_ISS = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"


def cognito(**claims: Any) -> dict[str, Any]:
    """A user pool access token: no ``aud``, the app client in ``client_id``, token_use=access."""
    return {
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admin"],
        "iss": COGNITO_ISS,
        "version": 2,
        "client_id": COGNITO_CLIENT,
        "origin_jti": "bbbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "event_id": "cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa",
        "token_use": "access",
        "scope": "https://mcp.example.com/mcp.read openid",
        "auth_time": int(time.time()) - 60,
        "jti": "dddddddd-eeee-ffff-aaaa-bbbbbbbbbbbb",
        "username": "alice",
    } | claims


def cognito_id_token(**claims: Any) -> dict[str, Any]:
    """A user pool ID token: ``aud`` = the app client ID, token_use=id."""
    body = cognito(aud=COGNITO_CLIENT, token_use="id", email="alice@example.com") | claims
    body.pop("client_id", None)
    body.pop("scope", None)
    return body


@pytest.fixture
def cognito_verifier(build: Any) -> JWTVerifier:
    verifier: JWTVerifier = build(COGNITO, COGNITO_ISS, allowed_client_ids=[COGNITO_CLIENT])
    return verifier


@pytest.mark.anyio
async def test_s20_cognito_access_token_without_aud_is_bound_by_its_client(
    cognito_verifier: JWTVerifier,
) -> None:
    access = await cognito_verifier.verify(sign(cognito(), key=IDP_KEY, kid="cognito"))
    assert access.client_id == COGNITO_CLIENT
    assert access.audience == ()
    assert access.scopes == {"https://mcp.example.com/mcp.read", "openid"}
    assert cognito_verifier.audience_check is True


@pytest.mark.anyio
@pytest.mark.parametrize(
    "claims",
    [
        {"client_id": "7f0ak3hm4u2cs1n8r2gp5lb3a"},  # another app client of the same pool
        {"client_id": None},  # no client at all
        {"client_id": None, "azp": "7f0ak3hm4u2cs1n8r2gp5lb3a"},
        {"client_id": COGNITO_CLIENT.upper()},  # exact match only
    ],
)
async def test_b1_s20_cognito_token_of_a_client_not_allowed_is_refused(
    cognito_verifier: JWTVerifier, claims: dict[str, Any]
) -> None:
    token = sign(cognito(**claims), key=IDP_KEY, kid="cognito")
    await refused(cognito_verifier, token, "client")


@pytest.mark.anyio
async def test_b1_s20_cognito_id_token_and_foreign_aud_are_refused(
    cognito_verifier: JWTVerifier,
) -> None:
    """A token that has an ``aud`` must pass the audience check; the client binding stands in
    only for a missing one, so the pool's ID tokens (``aud`` = the client) stay out."""
    await refused(
        cognito_verifier, sign(cognito_id_token(), key=IDP_KEY, kid="cognito"), "audience"
    )
    for aud in (COGNITO_CLIENT, [], "https://other.example.com/mcp", 5):
        token = sign(cognito(aud=aud), key=IDP_KEY, kid="cognito")
        await refused(cognito_verifier, token, "audience")


@pytest.mark.anyio
async def test_b3_s19_cognito_token_of_another_pool_is_refused(
    cognito_verifier: JWTVerifier,
) -> None:
    other = cognito(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_ZzZzZz")
    await refused(cognito_verifier, sign(other, key=IDP_KEY, kid="cognito"), "issuer")


# --- Keycloak ----------------------------------------------------------------------------

KC_ISS = "https://kc.example.com/realms/mcp"


def keycloak(**claims: Any) -> dict[str, Any]:
    """A Keycloak access token with an Audience mapper adding the MCP server URL."""
    return {
        "jti": "onrtac:6a4c2a4e-6f0b-4d0a-9d6b-1d1a0e6b9c11",
        "iss": KC_ISS,
        "aud": [RESOURCE, "account"],
        "sub": "f4b0c6a2-7f0e-4a8c-9e1b-2c3d4e5f6a7b",
        "typ": "Bearer",
        "azp": "mcp-client",
        "sid": "0f4c1f8e-2b7e-4d9a-8c3b-5a6d7e8f9a0b",
        "scope": "openid mcp:tools profile email",
        "preferred_username": "alice",
    } | claims


@pytest.mark.anyio
async def test_s19_keycloak_scope_string(build: Any) -> None:
    verifier: JWTVerifier = build(KEYCLOAK, KC_ISS)
    access = await verifier.verify(sign(keycloak(), key=IDP_KEY, kid="kc", typ="JWT"))
    assert access.scopes == {"openid", "mcp:tools", "profile", "email"}
    assert access.client_id == "mcp-client"
    smuggled = sign(keycloak(scope=None, scp=["mcp:admin"]), key=IDP_KEY, kid="kc")
    assert (await verifier.verify(smuggled)).scopes == frozenset()  # scp is not Keycloak's
    await refused(verifier, sign(keycloak(aud="account"), key=IDP_KEY, kid="kc"), "audience")
    await refused(verifier, sign(keycloak(aud=None), key=IDP_KEY, kid="kc"), "audience")


# --- the knobs themselves (JWKSCache.static, no network) ----------------------------------


def _static(kid: str, key: rsa.RSAPrivateKey) -> JWKSCache:
    return JWKSCache.static(_jwks(key, kid))


def test_s19_knob_arguments_are_checked() -> None:
    keys = _static("k", IDP_KEY)
    with pytest.raises(ValueError, match="issuers= alone"):
        JWTVerifier(issuer="https://a", issuers={"https://b": keys}, resource=RESOURCE)
    with pytest.raises(ValueError, match="issuer"):
        JWTVerifier(issuers={}, resource=RESOURCE)
    with pytest.raises(ValueError, match="issuer"):
        JWTVerifier(resource=RESOURCE, jwks=keys)
    with pytest.raises(ValueError, match="scope_claims"):
        JWTVerifier(issuer="https://a", jwks=keys, resource=RESOURCE, scope_claims="scp")
    with pytest.raises(ValueError, match="allowed_client_ids"):
        JWTVerifier(issuer="https://a", jwks=keys, resource=RESOURCE, allowed_client_ids="c")


@pytest.mark.anyio
async def test_s19_the_single_issuer_form_is_unchanged() -> None:
    verifier = JWTVerifier(issuer=KC_ISS, jwks=_static("kc", IDP_KEY), resource=RESOURCE)
    assert verifier.issuers == (KC_ISS,)
    assert verifier.audiences == (RESOURCE,)
    access = await verifier.verify(sign(keycloak(scope=None, scp="a b"), key=IDP_KEY, kid="kc"))
    assert access.scopes == {"a", "b"}  # default: scope, else scp (as before)
    no_aud = sign(keycloak(aud=None, client_id="c"), key=IDP_KEY, kid="kc")
    await refused(verifier, no_aud, "audience")  # no allowed_client_ids: no aud is refused


@pytest.mark.anyio
async def test_s20_one_jwks_per_url_and_issuer_binding_with_static_keys() -> None:
    a, b = _static("a", V1_KEY), _static("b", V2_KEY)
    verifier = JWTVerifier(issuers={"https://a": a, "https://b": b}, resource=RESOURCE)
    good = sign({"iss": "https://b", "aud": RESOURCE}, key=V2_KEY, kid="b")
    assert isinstance(await verifier.verify(good), AccessToken)
    await refused(verifier, sign({"iss": "https://a", "aud": RESOURCE}, key=V2_KEY, kid="b"))
    await refused(
        verifier, sign({"iss": "https://c", "aud": RESOURCE}, key=V2_KEY, kid="b"), "issuer"
    )
    shared = JWTVerifier(
        issuers={"https://a": "https://127.0.0.1:1/k", "https://b": "https://127.0.0.1:1/k"},
        resource=RESOURCE,
    )
    assert shared._own_jwks == [shared.jwks]  # one cache for the shared URL
    await shared.aclose()
