"""IdP profiles are consistent data, and what they produce fits zeroauth's real components.

Every ``client_options`` kwarg is a ``FlowConfig`` field (and builds a ``FlowConfig``), every
``verifier_options`` kwarg is a ``JWTVerifier`` parameter (and builds one), every
``resource_options`` kwarg is a ``BearerAuth`` parameter; issuer templates round-trip; the
well-known forms a profile serves map onto zeroauth's C-14/C-15 candidate order; recorded gaps
are real (the knob does not exist yet) and the former client-flow and verifier gaps are produced
as ``FlowConfig`` / ``JWTVerifier`` options; the Python examples in ``docs/idp/*.md`` run.
Example hosts are parsed only, never contacted.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.docs import code_blocks, run_example
from zeroauth.core.errors import RegistrationError
from zeroauth.core.flow import FlowConfig
from zeroauth.core.registration import choose_identity
from zeroauth.core.server_metadata import ServerMetadata, metadata_candidates
from zeroauth.idp import (
    ALL_PROFILES,
    AUTH0,
    COGNITO,
    ENTRA,
    ENTRA_V1_TOKENS,
    KEYCLOAK,
    KEYCLOAK_BEFORE_26_4,
    OKTA,
    IdPProfile,
    authorization_server,
    client_options,
    detect,
    flow_options,
    match_issuer,
    metadata_urls,
    qualify_scopes,
    resource_options,
    scope_hierarchy,
    verifier_options,
)
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth
from zeroauth.server._scopes import ScopePolicy

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = "https://mcp.example.com/mcp"

# Template parameters for every placeholder any profile uses (issuer, scope prefix).
PARAMS: dict[str, dict[str, str]] = {
    "keycloak": {"base": "https://kc.example.com", "realm": "mcp"},
    "keycloak-legacy": {"base": "https://kc.example.com/auth", "realm": "mcp"},
    "entra": {"tenant": "11111111-2222-3333-4444-555555555555"},
    "entra-v1": {"tenant": "11111111-2222-3333-4444-555555555555"},
    "auth0": {"domain": "tenant.eu.auth0.com"},
    "okta": {"domain": "acme.okta.com", "server": "aus1abcd"},
    "cognito": {"region": "eu-west-1", "pool": "eu-west-1_AbCdEf"},
}
PREFIX_PARAMS: dict[str, dict[str, str]] = {
    "entra": {"app_id_uri": "api://mcp-notes"},
    "entra-v1": {"app_id_uri": "api://mcp-notes"},
    "cognito": {"resource_server": "https://mcp.example.com"},
}
COGNITO_CLIENTS = ["4c6pquq3d2n4hkv1h6qkf2u0bs"]
AUDIENCE: dict[str, str] = {"entra": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "entra-v1": "api://x"}

by_name = pytest.mark.parametrize("profile", ALL_PROFILES, ids=lambda p: p.name)


def _issuer(profile: IdPProfile) -> str:
    return authorization_server(profile, **PARAMS[profile.name])


def _flow_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(FlowConfig)}


def _params(callable_: Any) -> set[str]:
    return set(inspect.signature(callable_).parameters) - {"self"}


# --- the profile data itself ---------------------------------------------------------------


def test_profile_names_are_unique() -> None:
    names = [p.name for p in ALL_PROFILES]
    assert len(names) == len(set(names))
    assert set(PARAMS) == set(names)


@by_name
def test_unverified_names_real_fields(profile: IdPProfile) -> None:
    fields = {f.name for f in dataclasses.fields(IdPProfile)}
    assert set(profile.unverified) <= fields, set(profile.unverified) - fields


@by_name
def test_c14_every_profile_is_discoverable_by_zeroauth(profile: IdPProfile) -> None:
    """At least one form the IdP serves is in zeroauth's candidate list (C-14, C-15)."""
    issuer = _issuer(profile)
    found = metadata_urls(profile, issuer)
    assert found, f"{profile.name}: zeroauth would never find the metadata"
    candidates = metadata_candidates(issuer)
    assert list(found) == [u for u in candidates if u in found]  # candidate order kept


@by_name
def test_s20_verifier_templates_need_only_the_issuer(profile: IdPProfile) -> None:
    """JWKS and token-issuer templates resolve from the AS issuer alone."""
    fields = set(match_issuer(profile, _issuer(profile)) or {}) | {"issuer"}
    for template in (profile.jwks_template, profile.token_issuer_template):
        names = set(re.findall(r"{(\w+)}", template))
        assert names <= fields, (profile.name, template)


@by_name
def test_c18_missing_pkce_advertisement_gives_assume_s256_for_the_issuer(
    profile: IdPProfile,
) -> None:
    """Entra and Cognito document S256 but omit code_challenge_methods_supported: their client
    options assert S256 for exactly their issuer (FlowConfig.assume_s256_issuers, C-18)."""
    issuer = _issuer(profile)
    options = client_options(profile, issuer=issuer, client_id="c")
    assert profile.assume_s256 is (profile.advertises_s256 is False)
    if profile.assume_s256:
        assert FlowConfig(**options).assume_s256_issuers == frozenset({issuer})
    else:
        assert "assume_s256_issuers" not in options


@by_name
def test_c33_resource_is_withheld_only_where_the_idp_rejects_it(profile: IdPProfile) -> None:
    assert profile.send_resource == (profile.resource_param != "rejected")


@by_name
def test_docs_page_exists(profile: IdPProfile) -> None:
    if profile.doc:
        assert (ROOT / profile.doc).is_file(), profile.doc


def test_former_flow_gaps_are_flow_config_knobs_now() -> None:
    """assume_s256_issuers, authorization_params and scope_prefix landed: no profile records a
    client-flow gap any more, and each knob is produced by some profile's options."""
    knobs = {"assume_s256_issuers", "authorization_params", "scope_prefix"}
    assert knobs <= _flow_fields()
    assert not [p.name for p in ALL_PROFILES if p.flow_gaps]
    produced: set[str] = set()
    for profile in ALL_PROFILES:
        produced |= set(
            client_options(
                profile,
                issuer=_issuer(profile),
                client_id="c",
                audience=RESOURCE if profile.audience_param else None,
                **PREFIX_PARAMS.get(profile.name, {}),
            )
        )
    assert knobs <= produced


@by_name
def test_gaps_are_real_missing_knobs(profile: IdPProfile) -> None:
    """A gap names a knob zeroauth does not have; when it lands, update the profile."""
    for gap in profile.flow_gaps:
        assert gap.knob.startswith("FlowConfig.")
        assert gap.knob.removeprefix("FlowConfig.") not in _flow_fields(), gap.knob
    for gap in profile.verifier_gaps:
        owner, _, rest = gap.knob.partition("(")
        assert owner == "JWTVerifier"
        assert rest.split("=")[0] not in _params(JWTVerifier), gap.knob


def test_s19_s20_former_verifier_gaps_are_jwt_verifier_knobs_now() -> None:
    """scope_claims, issuers, audiences and allowed_client_ids landed: no profile records a
    verifier gap any more, and each knob is produced by some profile's verifier options."""
    knobs = {"scope_claims", "issuers", "audiences", "allowed_client_ids"}
    assert knobs <= _params(JWTVerifier)
    assert not [p.name for p in ALL_PROFILES if p.verifier_gaps]
    produced: set[str] = set()
    for profile in ALL_PROFILES:
        produced |= set(_verifier_options(profile))
    assert knobs <= produced


# --- issuers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "issuer"),
    [
        (KEYCLOAK, "https://kc.example.com/realms/mcp"),
        (KEYCLOAK_BEFORE_26_4, "https://kc.example.com/auth/realms/mcp"),
        (ENTRA, "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"),
        (AUTH0, "https://tenant.eu.auth0.com/"),
        (OKTA, "https://acme.okta.com/oauth2/aus1abcd"),
        (COGNITO, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"),
    ],
    ids=lambda v: v.name if isinstance(v, IdPProfile) else "",
)
def test_c17_issuer_templates_round_trip(profile: IdPProfile, issuer: str) -> None:
    assert _issuer(profile) == issuer
    assert match_issuer(profile, issuer) == PARAMS[profile.name]


def test_c17_auth0_issuer_keeps_its_trailing_slash() -> None:
    assert match_issuer(AUTH0, "https://tenant.eu.auth0.com") is None
    with pytest.raises(ValueError, match="C-17"):
        resource_options(AUTH0, issuer="https://tenant.eu.auth0.com")
    assert resource_options(AUTH0, issuer="https://tenant.eu.auth0.com/") == {
        "authorization_servers": ["https://tenant.eu.auth0.com/"]
    }


def test_missing_template_parameter_is_named() -> None:
    with pytest.raises(ValueError, match="realm"):
        authorization_server(KEYCLOAK, base="https://kc.example.com")


@pytest.mark.parametrize(
    ("issuer", "name"),
    [
        ("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0", "entra"),
        ("https://kc.example.com/realms/mcp", "keycloak"),
        ("https://tenant.us.auth0.com/", "auth0"),
        ("https://acme.oktapreview.com/oauth2/default", "okta"),
        ("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X", "cognito"),
        ("https://acme.okta.com", None),  # the org AS: tokens nobody else can validate
        ("https://as.example.com", None),
    ],
)
def test_detect_names_the_idp_behind_an_issuer(issuer: str, name: str | None) -> None:
    found = detect(issuer)
    assert (found.name if found else None) == name


# --- discovery order (C-14..C-16) ------------------------------------------------------------


def test_c14_keycloak_26_4_is_found_at_the_rfc8414_inserted_form() -> None:
    issuer = "https://kc.example.com/realms/mcp"
    assert metadata_urls(KEYCLOAK, issuer)[0] == (
        "https://kc.example.com/.well-known/oauth-authorization-server/realms/mcp"
    )


def test_c15_keycloak_before_26_4_and_entra_are_found_third() -> None:
    kc = "https://kc.example.com/realms/mcp"
    assert metadata_urls(KEYCLOAK_BEFORE_26_4, kc) == (metadata_candidates(kc)[2],)
    entra = _issuer(ENTRA)
    assert metadata_urls(ENTRA, entra) == (f"{entra}/.well-known/openid-configuration",)
    assert metadata_candidates(entra).index(metadata_urls(ENTRA, entra)[0]) == 2


def test_c16_auth0_root_issuer_is_found_first() -> None:
    assert metadata_urls(AUTH0, "https://t.auth0.com/") == metadata_candidates(
        "https://t.auth0.com/"
    )


# --- client options -> FlowConfig ------------------------------------------------------------


@by_name
def test_c22_client_options_are_flow_config_fields(profile: IdPProfile) -> None:
    issuer = _issuer(profile)
    options = client_options(
        profile,
        issuer=issuer,
        client_id="client-1",
        scopes=["mcp.read", "offline_access"],
        **PREFIX_PARAMS.get(profile.name, {}),
    )
    assert set(options) <= _flow_fields()
    config = FlowConfig(**options)
    assert config.preregistered[issuer].client_id == "client-1"
    assert config.preregistered[issuer].source == "pre-registered"
    assert config.send_resource is profile.send_resource
    assert config.scopes is not None
    assert "offline_access" in config.scopes


@by_name
def test_c22_idps_without_registration_need_a_client_id(profile: IdPProfile) -> None:
    issuer = _issuer(profile)
    if profile.dcr in ("yes", "opt-in") or profile.cimd in ("yes", "opt-in"):
        assert set(client_options(profile, issuer=issuer)) <= _flow_fields()
    else:
        with pytest.raises(ValueError, match="client_id"):
            client_options(profile, issuer=issuer)


def test_m6_entra_metadata_without_registration_uses_the_preregistered_client() -> None:
    issuer = _issuer(ENTRA)
    md = ServerMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer[:-5]}/oauth2/v2.0/authorize",
        token_endpoint=f"{issuer[:-5]}/oauth2/v2.0/token",
    )
    with pytest.raises(RegistrationError):
        choose_identity(md, preregistered=None, cimd_url=None)
    pre = client_options(ENTRA, issuer=issuer, client_id="app")["preregistered"][issuer]
    assert choose_identity(md, preregistered=pre, cimd_url=None) == "pre-registered"


def test_entra_scopes_are_qualified_with_the_app_id_uri() -> None:
    options = client_options(
        ENTRA,
        issuer=_issuer(ENTRA),
        client_id="app",
        scopes=["mcp.read", "offline_access", "https://graph.microsoft.com/User.Read"],
        app_id_uri="api://mcp-notes",
    )
    assert options["scopes"] == (
        "api://mcp-notes/mcp.read",
        "offline_access",
        "https://graph.microsoft.com/User.Read",
    )
    assert options["send_resource"] is False
    with pytest.raises(ValueError, match="app_id_uri"):
        client_options(ENTRA, issuer=_issuer(ENTRA), client_id="app", scopes=["mcp.read"])


def test_qualify_scopes_leaves_oidc_and_qualified_names() -> None:
    assert qualify_scopes(["openid", "a", "x/y"], "api://p/") == ("openid", "api://p/a", "x/y")


@pytest.mark.parametrize(
    ("profile", "params", "expected"),
    [
        (ENTRA, {"app_id_uri": "api://mcp-notes"}, "api://mcp-notes/"),
        (COGNITO, {"resource_server": "https://mcp.example.com"}, "https://mcp.example.com/"),
        (ENTRA, {}, None),  # no App ID URI: servers advertising qualified names need no prefix
        (KEYCLOAK, {}, None),
    ],
    ids=["entra", "cognito", "entra-no-app-id-uri", "keycloak"],
)
def test_c37_c39_scope_prefix_from_the_profile_template(
    profile: IdPProfile, params: dict[str, str], expected: str | None
) -> None:
    options = client_options(profile, issuer=_issuer(profile), client_id="c", **params)
    assert options.get("scope_prefix") == expected
    assert FlowConfig(**options).scope_prefix == expected


def test_auth0_audience_becomes_an_authorization_parameter() -> None:
    issuer = _issuer(AUTH0)
    options = client_options(AUTH0, issuer=issuer, audience=RESOURCE)
    assert options == {"authorization_params": {"audience": RESOURCE}}
    assert FlowConfig(**options).authorization_params == {"audience": RESOURCE}
    assert "authorization_params" not in client_options(AUTH0, issuer=issuer)  # compat profile


@pytest.mark.parametrize("profile", [KEYCLOAK, ENTRA, OKTA], ids=lambda p: p.name)
def test_audience_is_refused_where_the_idp_has_no_such_parameter(profile: IdPProfile) -> None:
    with pytest.raises(ValueError, match="no audience parameter"):
        flow_options(profile, audience=RESOURCE)


def test_flow_options_without_issuers_assume_nothing() -> None:
    assert flow_options(ENTRA) == {"send_resource": False}
    assert flow_options(ENTRA, issuers=["https://a", "https://b"])["assume_s256_issuers"] == (
        frozenset({"https://a", "https://b"})
    )


# --- verifier options -> JWTVerifier ---------------------------------------------------------


def _verifier_options(profile: IdPProfile, **extra: Any) -> dict[str, Any]:
    return verifier_options(
        profile,
        issuer=_issuer(profile),
        resource=RESOURCE,
        audience=AUDIENCE.get(profile.name),
        allowed_client_ids=COGNITO_CLIENTS if profile.audience == "none" else None,
        **extra,
    )


@by_name
def test_s20_verifier_options_build_a_jwt_verifier(profile: IdPProfile) -> None:
    options = _verifier_options(profile)
    assert set(options) <= _params(JWTVerifier)
    verifier = JWTVerifier(**options)
    assert verifier.issuers == (
        tuple(options["issuers"]) if "issuers" in options else (options["issuer"],)
    )
    assert verifier.audience_check is True  # no profile turns the S-20 check off any more
    assert verifier.scope_claims == profile.scope_claims


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (
            KEYCLOAK,
            {
                "issuer": "https://kc.example.com/realms/mcp",
                "jwks_uri": "https://kc.example.com/realms/mcp/protocol/openid-connect/certs",
                "resource": RESOURCE,
            },
        ),
        (
            ENTRA,
            {
                "issuers": {
                    "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0": (
                        "https://login.microsoftonline.com/"
                        "11111111-2222-3333-4444-555555555555/discovery/v2.0/keys"
                    ),
                    "https://sts.windows.net/11111111-2222-3333-4444-555555555555/": (
                        "https://login.microsoftonline.com/"
                        "11111111-2222-3333-4444-555555555555/discovery/keys"
                    ),
                },
                "resource": RESOURCE,
                "audiences": (AUDIENCE["entra"],),
                "scope_claims": ("scp", "roles"),
            },
        ),
        (
            ENTRA_V1_TOKENS,
            {
                "issuers": {
                    "https://sts.windows.net/11111111-2222-3333-4444-555555555555/": (
                        "https://login.microsoftonline.com/"
                        "11111111-2222-3333-4444-555555555555/discovery/keys"
                    ),
                    "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0": (
                        "https://login.microsoftonline.com/"
                        "11111111-2222-3333-4444-555555555555/discovery/v2.0/keys"
                    ),
                },
                "resource": RESOURCE,
                "audiences": (AUDIENCE["entra-v1"],),
            },
        ),
        (
            AUTH0,
            {
                "issuer": "https://tenant.eu.auth0.com/",
                "jwks_uri": "https://tenant.eu.auth0.com/.well-known/jwks.json",
                "resource": RESOURCE,
                "scope_claims": ("scope", "permissions"),
            },
        ),
        (
            OKTA,
            {
                "issuer": "https://acme.okta.com/oauth2/aus1abcd",
                "jwks_uri": "https://acme.okta.com/oauth2/aus1abcd/v1/keys",
                "resource": RESOURCE,
                "scope_claims": ("scp",),
            },
        ),
    ],
    ids=lambda v: v.name if isinstance(v, IdPProfile) else "",
)
def test_s19_verifier_options_per_idp(profile: IdPProfile, expected: dict[str, Any]) -> None:
    options = verifier_options(
        profile, issuer=_issuer(profile), resource=RESOURCE, audience=AUDIENCE.get(profile.name)
    )
    assert {k: options[k] for k in expected} == expected
    assert list(options.get("issuers", ())) == list(expected.get("issuers", ()))  # own form 1st
    assert options["algorithms"] == ("RS256",)


def test_s20_entra_needs_the_app_client_id_as_audience() -> None:
    with pytest.raises(ValueError, match="client\\) ID"):
        verifier_options(ENTRA, issuer=_issuer(ENTRA), resource=RESOURCE)


def test_s20_entra_app_id_uri_is_a_second_audience() -> None:
    """v1 tokens carry the App ID URI in aud, v2 tokens the client ID: both are accepted."""
    options = verifier_options(
        ENTRA,
        issuer=_issuer(ENTRA),
        resource=RESOURCE,
        audience=AUDIENCE["entra"],
        app_id_uri="api://mcp-notes",
    )
    assert options["audiences"] == (AUDIENCE["entra"], "api://mcp-notes")


def test_s20_cognito_has_no_aud_so_the_client_ids_bind_the_token() -> None:
    with pytest.raises(ValueError, match="allowed_client_ids"):
        verifier_options(COGNITO, issuer=_issuer(COGNITO), resource=RESOURCE)
    options = _verifier_options(COGNITO)
    assert options["allowed_client_ids"] == frozenset(COGNITO_CLIENTS)
    assert "audience_check" not in options
    assert JWTVerifier(**options).audience_check is True


def test_verifier_jwks_uri_from_metadata_wins() -> None:
    options = verifier_options(
        KEYCLOAK, issuer=_issuer(KEYCLOAK), resource=RESOURCE, jwks_uri="https://k/jwks"
    )
    assert options["jwks_uri"] == "https://k/jwks"


# --- resource options -> BearerAuth ----------------------------------------------------------


@by_name
def test_s01_resource_options_are_bearer_auth_parameters(profile: IdPProfile) -> None:
    issuer = _issuer(profile)
    options = resource_options(
        profile, issuer=issuer, scopes=["mcp.read"], **PREFIX_PARAMS.get(profile.name, {})
    )
    assert set(options) <= _params(BearerAuth)
    verifier = JWTVerifier(**_verifier_options(profile))
    BearerAuth(_app, verifier=verifier, resource=RESOURCE, **options)
    assert options["authorization_servers"] == [issuer]


def test_s17_entra_short_scp_names_satisfy_qualified_requirements() -> None:
    hierarchy = scope_hierarchy(ENTRA, ["mcp.read", "openid"], app_id_uri="api://mcp-notes")
    assert hierarchy == {"mcp.read": ["api://mcp-notes/mcp.read"]}
    policy = ScopePolicy(required=["api://mcp-notes/mcp.read"], hierarchy=hierarchy)
    assert policy.satisfies(frozenset({"mcp.read"}), policy.required)  # Entra scp: short name
    assert not policy.satisfies(frozenset({"mcp.write"}), policy.required)
    assert scope_hierarchy(KEYCLOAK, ["mcp.read"]) == {}


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
    raise AssertionError


# --- the examples in docs/idp ----------------------------------------------------------------

DOCS = sorted((ROOT / "docs" / "idp").glob("*.md"))


def test_docs_pages_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"README.md", "keycloak.md", "entra.md", "auth0.md", "okta.md"} <= names


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(block, id=f"{page.stem}-{n}")
        for page in DOCS
        for n, block in enumerate(code_blocks(page))
    ],
)
def test_docs_examples_run(block: str) -> None:
    """Each Python example builds real objects (no network: nothing is awaited or sent)."""
    run_example(block)


def test_rfc8693_each_profile_says_how_a_service_exchanges_tokens() -> None:
    """Issue: multi-hop. Entra uses its on-behalf-of grant, Keycloak/Okta/Auth0 RFC 8693,
    Cognito none; the value is what ``TokenExchanger(style=...)`` takes."""
    from zeroauth.idp.profiles import AUTH0, COGNITO, ENTRA, KEYCLOAK, OKTA

    assert ENTRA.token_exchange == "on_behalf_of"
    assert {p.token_exchange for p in (KEYCLOAK, OKTA, AUTH0)} == {"rfc8693"}
    assert COGNITO.token_exchange is None
    for profile in ALL_PROFILES:
        assert profile.token_exchange in (None, "rfc8693", "on_behalf_of")
