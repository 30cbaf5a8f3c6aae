"""The real authorization server (oidc-provider) in the shapes of real IdPs, against zeroauth.

The launcher reproduces what a client can observe of Keycloak (realm issuer path; before 26.4
only the forms under the realm; from 26.4 also the RFC 8414 inserted form), Entra ID (a
``/<tenant>/v2.0`` issuer, OpenID-only metadata, no registration endpoint) and Auth0 (a root
issuer with a trailing ``/``). For each shape:

- zeroauth's candidate URLs (``metadata_candidates``) fetched in order with a plain httpx2 loop
  find the metadata at the URL the profile predicts (``metadata_urls``), the earlier candidates
  404, and ``ServerMetadata.from_json`` accepts only the exact issuer (C-14..C-17);
- a ``JWTVerifier`` built from ``verifier_options`` accepts the AS's access token for our
  resource and refuses one for another resource (S-19, S-20);
- Keycloak and Auth0 shapes: ``ZeroAuth`` built from ``client_options`` gets into a
  ``BearerAuth``-protected server built from ``resource_options`` knowing only its URL.

What the test bed cannot reproduce (documented in docs/idp): Entra's ``aud`` (the app's client
ID, chosen by the scope, not the ``resource``) and its missing ``code_challenge_methods_supported``
(simulated below by deleting the member from the real document: refused by C-18, accepted by the
flow's discovery with the profile's ``assume_s256_issuers``).
"""

from __future__ import annotations

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
    RealAS,
    RealASFactory,
    authorize,
    exchange_code,
    obtain_tokens,
    pkce_pair,
)
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.errors import InvalidToken, RegistrationError, ServerMetadataError
from zeroauth.core.flow import Fetch, FlowConfig, HTTPResponse
from zeroauth.core.flow.discovery import discover_server
from zeroauth.core.flow.run import Run
from zeroauth.core.registration import choose_identity
from zeroauth.core.server_metadata import ServerMetadata, check_capabilities, metadata_candidates
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.idp import (
    AUTH0,
    ENTRA,
    KEYCLOAK,
    KEYCLOAK_BEFORE_26_4,
    IdPProfile,
    client_options,
    metadata_urls,
    resource_options,
    verifier_options,
)
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth, current_token

pytestmark = pytest.mark.realas

FORMS = ("oauth-inserted", "openid-inserted", "openid-appended", "oauth-appended")
RESOURCE = "http://127.0.0.1:8765/mcp"
OTHER_RESOURCE = "http://127.0.0.1:8766/other"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
# Entra binds aud to the API app chosen by the scope; the test bed binds it to `resource`, so
# the app's identity is stood in by an http(s) URL the client sends as resource.
ENTRA_APP = "http://127.0.0.1:9/6e74172b-be56-4843-9ff4-e66a39bb12e3"
REDIRECT = "http://127.0.0.1:9/callback"

SHAPES: dict[str, tuple[IdPProfile, dict[str, Any]]] = {
    "keycloak": (
        KEYCLOAK,
        {"issuer_path": "/realms/mcp", "disable_forms": ["openid-inserted"]},
    ),
    "keycloak-legacy": (
        KEYCLOAK_BEFORE_26_4,
        {"issuer_path": "/realms/mcp", "disable_forms": ["oauth-inserted", "openid-inserted"]},
    ),
    "entra": (
        ENTRA,
        {
            "issuer_path": f"/{TENANT}/v2.0",
            "disable_forms": ["oauth-inserted", "openid-inserted", "oauth-appended"],
            "dcr": False,
            "clients": [
                {
                    "client_id": "entra-public-app",
                    "token_endpoint_auth_method": "none",
                    "redirect_uris": [REDIRECT],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                }
            ],
        },
    ),
    "auth0": (AUTH0, {"issuer_path": "/"}),
}


@pytest.fixture(params=list(SHAPES))
def shape(
    request: pytest.FixtureRequest, real_as_factory: RealASFactory
) -> tuple[IdPProfile, RealAS]:
    profile, switches = SHAPES[request.param]
    return profile, real_as_factory(**switches)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(trust_env=False, timeout=10) as client:
        yield client


def discover(http: httpx2.Client, issuer: str) -> tuple[str, ServerMetadata, list[int]]:
    """C-14/C-15 with a plain loop: the first candidate answering 200, checked with C-17."""
    statuses: list[int] = []
    for url in metadata_candidates(issuer):
        response = http.get(url)
        statuses.append(response.status_code)
        if response.status_code == 200:
            return (
                url,
                ServerMetadata.from_json(response.json(), issuer=issuer, where=url),
                statuses,
            )
    raise AssertionError(f"no metadata for {issuer}: {statuses}")


def test_c14_c15_metadata_found_where_the_profile_says(
    shape: tuple[IdPProfile, RealAS], http: httpx2.Client
) -> None:
    profile, server = shape
    url, md, statuses = discover(http, server.issuer)
    assert url == metadata_urls(profile, server.issuer)[0]
    assert statuses[:-1] == [404] * (len(statuses) - 1)  # earlier candidates: not served
    assert md.issuer == server.issuer
    check_capabilities(md)  # the test bed advertises S256 (C-18)


def test_shape_serves_exactly_the_profiles_forms(
    shape: tuple[IdPProfile, RealAS], http: httpx2.Client
) -> None:
    """The launcher switches reproduce the profile: each well-known form is 200 iff served."""
    profile, server = shape
    urls = server.well_known_urls
    for form in FORMS:
        if form in urls:
            served = http.get(urls[form]).status_code == 200
            expected = form in profile.discovery_forms
            assert served == expected, form


def test_c17_issuer_is_compared_exactly(
    shape: tuple[IdPProfile, RealAS], http: httpx2.Client
) -> None:
    """A client configured with the issuer one slash off refuses the (correct) document."""
    _, server = shape
    url, md, _ = discover(http, server.issuer)
    twin = server.issuer[:-1] if server.issuer.endswith("/") else server.issuer + "/"
    with pytest.raises(ServerMetadataError) as refused:
        ServerMetadata.from_json(md.raw, issuer=twin, where=url)
    assert refused.value.requirement == "C-17"


@pytest.mark.anyio
async def test_s19_s20_verifier_options_accept_the_as_tokens(
    shape: tuple[IdPProfile, RealAS],
) -> None:
    profile, server = shape
    with httpx2.Client(trust_env=False, timeout=10) as http:
        _, md, _ = discover(http, server.issuer)
        if profile is ENTRA:
            token = _entra_token(http, server, resource=ENTRA_APP)
            other = _entra_token(http, server, resource=OTHER_RESOURCE)
        else:
            token = obtain_tokens(server, resource=RESOURCE)["access_token"]
            other = obtain_tokens(server, resource=OTHER_RESOURCE)["access_token"]
    audience = ENTRA_APP if profile is ENTRA else None
    options = verifier_options(
        profile, issuer=server.issuer, resource=RESOURCE, audience=audience, jwks_uri=md.jwks_uri
    )
    verifier = JWTVerifier(**options)
    try:
        access = await verifier.verify(token)
        assert access.issuer == server.issuer
        assert (audience or RESOURCE) in access.audience
        assert access.subject == "alice"
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(other)
        assert refused.value.requirement == "S-20"
    finally:
        await verifier.aclose()


def _entra_token(http: httpx2.Client, server: RealAS, *, resource: str) -> str:
    """The pre-registered public client's code flow (Entra has no DCR)."""
    verifier, challenge = pkce_pair()
    result = authorize(
        http,
        server,
        client_id="entra-public-app",
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        resource=resource,
        scope="mcp:read",
    )
    response = exchange_code(
        http,
        server,
        code=result.params["code"],
        verifier=verifier,
        client_id="entra-public-app",
        redirect_uri=REDIRECT,
        resource=resource,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_m6_entra_shape_needs_the_preregistered_client(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    server = real_as_factory(**SHAPES["entra"][1])
    _, md, _ = discover(http, server.issuer)
    assert md.registration_endpoint is None
    assert md.client_id_metadata_document_supported is False
    with pytest.raises(RegistrationError):
        choose_identity(md, preregistered=None, cimd_url=None)
    options = client_options(ENTRA, issuer=server.issuer, client_id="entra-public-app")
    client = options["preregistered"][server.issuer]
    assert choose_identity(md, preregistered=client, cimd_url=None) == "pre-registered"
    assert options["send_resource"] is False


def test_c18_entra_metadata_without_pkce_member_is_refused(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    """Real Entra metadata omits code_challenge_methods_supported: without the profile's
    assume_s256_issuers zeroauth refuses it (C-18, a MUST for every other AS)."""
    server = real_as_factory(**SHAPES["entra"][1])
    url, md, _ = discover(http, server.issuer)
    doc = {k: v for k, v in md.raw.items() if k != "code_challenge_methods_supported"}
    entra_like = ServerMetadata.from_json(doc, issuer=server.issuer, where=url)
    with pytest.raises(ServerMetadataError) as refused:
        check_capabilities(entra_like)
    assert refused.value.requirement == "C-18"


def _flow_discovery(http: httpx2.Client, config: FlowConfig, issuer: str) -> ServerMetadata:
    """The flow's own AS discovery (C-14..C-19), its Fetch steps answered over loopback by the
    real AS with ``code_challenge_methods_supported`` cut from every document (Entra's shape)."""
    flow = discover_server(Run(config, RESOURCE, None), issuer, use_cache=False)
    reply: Any = None
    try:
        while True:
            step = flow.send(reply)
            reply = None
            if isinstance(step, Fetch):
                answers = []
                for request in step.requests:
                    response = http.get(request.url)
                    body = response.content
                    if response.status_code == 200:
                        doc = response.json()
                        doc.pop("code_challenge_methods_supported", None)
                        body = json.dumps(doc).encode()
                    answers.append(
                        HTTPResponse.build(
                            response.status_code, request.url, response.headers.multi_items(), body
                        )
                    )
                reply = tuple(answers)
    except StopIteration as done:
        found: ServerMetadata = done.value[0]
        return found


def test_c18_entra_profile_options_let_the_flow_discover_it(
    real_as_factory: RealASFactory, http: httpx2.Client
) -> None:
    """client_options(ENTRA, ...) lists the issuer in assume_s256_issuers: the flow's discovery
    accepts the PKCE-less document for that exact issuer and no other."""
    server = real_as_factory(**SHAPES["entra"][1])
    with pytest.raises(ServerMetadataError) as refused:
        _flow_discovery(http, FlowConfig(url_policy=DEVELOPMENT), server.issuer)
    assert refused.value.requirement == "C-18"
    options = client_options(ENTRA, issuer=server.issuer, client_id="entra-public-app")
    assert options["assume_s256_issuers"] == frozenset({server.issuer})
    md = _flow_discovery(http, FlowConfig(url_policy=DEVELOPMENT, **options), server.issuer)
    assert md.issuer == server.issuer
    assert md.code_challenge_methods_supported == ("S256",)
    assert "code_challenge_methods_supported" not in md.raw
    twin = FlowConfig(url_policy=DEVELOPMENT, assume_s256_issuers=frozenset({server.issuer + "/"}))
    with pytest.raises(ServerMetadataError):
        _flow_discovery(http, twin, server.issuer)


# --- end to end: ZeroAuth -> BearerAuth with the real AS in an IdP's shape --------------------


async def _whoami(request: Request) -> JSONResponse:
    token = current_token()
    body = json.loads(await request.body())
    return JSONResponse(
        {
            "jsonrpc": "2.0",
            "id": body.get("id"),
            "result": {
                "sub": token.subject if token else None,
                "aud": list(token.audience) if token else [],
                "scopes": sorted(token.scopes) if token else [],
            },
        }
    )


@pytest.mark.parametrize("name", ["keycloak", "keycloak-legacy", "auth0"])
def test_c33_zeroauth_gets_in_through_the_idp_shape(
    name: str, real_as_factory: RealASFactory
) -> None:
    profile, switches = SHAPES[name]
    server = real_as_factory(**switches)

    def protected(base_url: str) -> Any:
        resource = f"{base_url}/mcp"
        verifier = JWTVerifier(
            **verifier_options(
                profile, issuer=server.issuer, resource=resource, jwks_uri=server.jwks_uri
            )
        )
        app = Starlette(routes=[Route("/mcp", _whoami, methods=["POST"])])
        options = resource_options(profile, issuer=server.issuer, scopes=["mcp:read"])
        return BearerAuth(app, verifier=verifier, resource=resource, **options)

    with serve_asgi(factory=protected) as mcp:
        # Auth0: the API identifier (= the server URL) as `audience` too; a standard AS ignores
        # the extension parameter (RFC 6749 §3.1), as oidc-provider does here
        audience = mcp.url("/mcp") if profile.audience_param else None
        auth = ZeroAuth(
            **client_options(profile, issuer=server.issuer, audience=audience),
            url_policy=DEVELOPMENT,
            user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
            store=MemoryTokenStore(),
        )
        with httpx2.Client(auth=auth, trust_env=False, timeout=20) as client:
            response = client.post(mcp.url("/mcp"), json={"jsonrpc": "2.0", "id": 1, "method": "x"})
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["sub"] == "alice"
        assert result["aud"] == [mcp.url("/mcp")]
        assert "mcp:read" in result["scopes"]
