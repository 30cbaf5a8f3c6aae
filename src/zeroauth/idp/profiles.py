"""What real identity providers do, as data: one ``IdPProfile`` per IdP ("IdP quirks live
in idp/").

Each profile records how the IdP's issuer looks, which RFC 8414 / OpenID Connect Discovery
well-known forms it serves (MCP C-14..C-16), whether its metadata advertises PKCE S256 (C-18),
RFC 9207 ``iss`` (C-43), DCR / CIMD (C-22), what it does with the RFC 8707 ``resource``
parameter (C-33), and what its access tokens look like to a resource server (RFC 9068 / RFC
7519: ``iss`` forms, ``aud``, scope claims, client-id claim, ``typ`` header, JWKS location;
S-19, S-20).

Every value was checked against the source cited in the comment next to it. Values that could
not be confirmed are listed in the profile's ``unverified`` field (by field name) and are marked
"UNVERIFIED" in the comment. Where zeroauth lacks a knob a profile needs, the profile carries a
``Gap`` (``flow_gaps`` for the client flow — none today —, ``verifier_gaps`` for
``JWTVerifier``). Nothing here performs I/O; ``zeroauth.idp.options`` turns a profile into keyword
arguments for ``FlowConfig``/``ZeroAuth``, ``JWTVerifier`` and ``BearerAuth``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "ALL_PROFILES",
    "AUTH0",
    "COGNITO",
    "ENTRA",
    "ENTRA_V1_TOKENS",
    "KEYCLOAK",
    "KEYCLOAK_BEFORE_26_4",
    "OKTA",
    "DiscoveryForm",
    "Gap",
    "IdPProfile",
    "Support",
]

DiscoveryForm = Literal["oauth-inserted", "openid-inserted", "openid-appended", "oauth-appended"]
"""Well-known forms, named as in ``docs/realas.md``: ``-inserted`` = RFC 8414 §3.1 (well-known
between host and issuer path), ``-appended`` = OIDC Discovery §4 (after the issuer path). For a
root issuer the inserted and appended URLs coincide."""

Support = Literal["yes", "no", "opt-in", "gated", "experimental", "unknown"]
"""``opt-in``: off until an admin enables it; ``gated``: needs a credential (initial access token /
API key) that an MCP client does not have; ``experimental``: behind a feature flag."""

ResourceHandling = Literal["honoured", "opt-in", "experimental", "ignored", "rejected", "unknown"]
Audience = Literal["resource", "configured", "none"]
"""What ends up in ``aud`` when the IdP is set up as its doc page says: the MCP server's URL
(``resource``), a value the deployer must state (``configured``: e.g. Entra's app client ID), or
no ``aud`` claim at all (``none``)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A knob zeroauth does not have yet and this IdP needs (reported, never patched here)."""

    knob: str  # the field to add, e.g. "JWTVerifier(scope_claims=...)"
    type: str  # its Python type and default
    where: str  # the module/function where it must be applied
    why: str  # which IdP behaviour needs it


@dataclass(frozen=True, slots=True)
class IdPProfile:
    """One identity provider's observable behaviour (see the module docstring).

    Templates use ``{name}`` placeholders; ``{issuer}`` in ``jwks_template`` and
    ``token_issuer_template`` is the AS issuer itself, other names are parsed out of it.
    """

    name: str
    title: str
    issuer_template: str  # the AS issuer, as listed in PRM authorization_servers
    discovery_forms: frozenset[DiscoveryForm]
    advertises_s256: bool | None  # code_challenge_methods_supported present with S256 (C-18)
    iss_response: Support  # RFC 9207 iss in the authorization response
    dcr: Support  # RFC 7591 dynamic client registration usable by an MCP client
    cimd: Support  # Client ID Metadata Documents
    resource_param: ResourceHandling  # RFC 8707 resource in authorize/token requests
    audience: Audience
    audience_hint: str  # what to pass as ``audience=`` / what the IdP puts in ``aud``
    jwks_template: str
    token_issuer_template: str = "{issuer}"  # the ``iss`` claim of its access tokens
    # other (iss, JWKS) template pairs the same tenant's access tokens may carry (Entra v1/v2)
    other_token_issuers: tuple[tuple[str, str], ...] = ()
    # further aud values, as templates over ``verifier_options`` params (Entra: the App ID URI)
    audience_aliases: tuple[str, ...] = ()
    # claims holding scopes/permissions, read in order (JWTVerifier(scope_claims=...))
    scope_claims: tuple[str, ...] = ("scope",)
    client_id_claim: str = "client_id"
    typ_header: str | None = "JWT"  # JWS ``typ`` of access tokens; None: absent
    algorithms: tuple[str, ...] = ("RS256",)
    send_resource: bool = True  # client option: send RFC 8707 resource (C-33 default)
    # the IdP documents PKCE S256 but its metadata omits code_challenge_methods_supported:
    # client option FlowConfig.assume_s256_issuers (C-18) for its issuer
    assume_s256: bool = False
    # parameter naming the target API in authorization and client-credentials requests, set
    # from client_options(audience=...) via FlowConfig.authorization_params (Auth0: audience)
    audience_param: str | None = None
    scope_prefix_template: str | None = None  # scopes on the wire are "<prefix><name>"
    # how a service exchanges a caller's token for the next hop (TokenExchanger(style=...)):
    # RFC 8693 token exchange, Entra's on-behalf-of (jwt-bearer), or None (not offered)
    token_exchange: Literal["rfc8693", "on_behalf_of"] | None = None
    flow_gaps: tuple[Gap, ...] = ()
    verifier_gaps: tuple[Gap, ...] = ()
    unverified: tuple[str, ...] = ()  # field names whose value we could not confirm
    doc: str = ""
    # ID-token claims naming the user's roles / groups (the bridge's scope_map "role:" /
    # "group:"); a dotted name walks nested objects; () = no standard claim, configure one
    role_claims: tuple[str, ...] = ("roles",)
    group_claims: tuple[str, ...] = ("groups",)


# --- knobs zeroauth lacks ------------------------------------------------------------------
# None today: the client flow's former gaps are FlowConfig knobs (assume_s256, audience_param,
# scope_prefix_template -> client_options/flow_options) and the resource server's are
# JWTVerifier knobs (scope_claims, other_token_issuers -> issuers, audience_aliases ->
# audiences, audience="none" -> allowed_client_ids; verifier_options sets them).


# --- Keycloak ----------------------------------------------------------------------------
# Sources: keycloak/keycloak docs/guides/securing-apps/mcp-authz-server.adoc ("Integrating
# with MCP"), PR #41440 + 26.4 upgrade notes (PR #42324: RFC 8414 inserted form), issues
# #40923, #45271 (OIDC inserted form still 404), #29627/#29628 (appended oauth form); FastMCP
# 4.1.6 providers/keycloak.py (realm URL = issuer, JWKS path).

KEYCLOAK = IdPProfile(
    name="keycloak",
    token_exchange="rfc8693",  # standard token exchange (Keycloak 26.2+)
    title="Keycloak 26.4 and later",
    # realm URL is the issuer (FastMCP KeycloakAuthProvider); base may end in /auth when
    # http-relative-path=/auth (keycloak#45271 tests both)
    issuer_template="{base}/realms/{realm}",
    # 26.4 added /.well-known/oauth-authorization-server/realms/<r> (PR #41440, #42324);
    # /.well-known/openid-configuration/realms/<r> 404s (#45271); the appended forms stay
    discovery_forms=frozenset({"oauth-inserted", "openid-appended", "oauth-appended"}),
    advertises_s256=True,  # UNVERIFIED (PKCE supported, "off by default": phasetwo tutorial)
    iss_response="yes",  # guide table: RFC 9207 "Supported"
    # guide "MCP Inspector integration": anonymous registration, governed by the Trusted Hosts
    # and Allowed Client Scopes policies
    dcr="yes",
    cimd="experimental",  # guide: --features=cimd plus a client policy
    # guide: --features=resource-indicators; without it the parameter is not recognised
    resource_param="experimental",
    audience="resource",  # guide: Audience mapper, Included Custom Audience = MCP server URL
    audience_hint="the MCP server URL, put into aud by an Audience mapper on the client scope",
    jwks_template="{issuer}/protocol/openid-connect/certs",  # FastMCP providers/keycloak.py
    scope_claims=("scope",),  # guide: example token "scope": "mcp:resources mcp:tools ..."
    client_id_claim="azp",  # UNVERIFIED for Keycloak itself (seen in third-party demos)
    typ_header="JWT",  # UNVERIFIED
    unverified=("advertises_s256", "client_id_claim", "typ_header"),
    doc="docs/idp/keycloak.md",
    # the "roles" client scope's realm-roles mapper (token claim name realm_access.roles) and a
    # Group Membership mapper (claim "groups", full paths "/name" unless turned off); both need
    # "Add to ID token" on
    role_claims=("realm_access.roles",),
    group_claims=("groups",),
)

KEYCLOAK_BEFORE_26_4 = replace(
    KEYCLOAK,
    name="keycloak-legacy",
    token_exchange="rfc8693",  # the legacy token exchange preview
    title="Keycloak before 26.4",
    # only the forms under the realm path (keycloak#40923: inserted form missing)
    discovery_forms=frozenset({"openid-appended", "oauth-appended"}),
    cimd="unknown",  # UNVERIFIED: the experimental cimd feature is documented for 26.x guides
    resource_param="ignored",  # guide: without the feature Keycloak does not recognise it
    unverified=(*KEYCLOAK.unverified, "cimd"),
)


# --- Microsoft Entra ID ------------------------------------------------------------------
# Sources: MicrosoftDocs/entra-docs identity-platform/access-tokens.md (v1/v2 formats,
# accessTokenAcceptedVersion, issuer validation, v2 metadata URL), access-token-claims-
# reference.md (aud, iss, scp, roles, azp/appid, typ), v2-oauth2-auth-code-flow.md (parameters,
# PKCE S256/plain, response carries code+state only), scopes-oidc.md (scope = identifier URI +
# value, bare scope = Microsoft Graph, .default); MCP SDK / client issues:
# modelcontextprotocol/typescript-sdk#832 (no code_challenge_methods_supported),
# csharp-sdk#741, punkpeye/mcp-remote#217, TracecatHQ/tracecat#2466 (AADSTS901002 /
# AADSTS9010010 on `resource`), agentgateway/agentgateway#2408 (no DCR, no RFC 8414 metadata).

ENTRA = IdPProfile(
    name="entra",
    token_exchange="on_behalf_of",  # jwt-bearer + requested_token_use=on_behalf_of
    title="Microsoft Entra ID (v2.0 endpoint, v2 access tokens)",
    issuer_template="https://login.microsoftonline.com/{tenant}/v2.0",  # access-tokens.md
    # only <issuer>/.well-known/openid-configuration (access-tokens.md; agentgateway#2408)
    discovery_forms=frozenset({"openid-appended"}),
    advertises_s256=False,  # typescript-sdk#832; metadata dumps in erlef/oidcc#376
    assume_s256=True,  # v2-oauth2-auth-code-flow.md: code_challenge_method S256 (or plain)
    iss_response="no",  # v2-oauth2-auth-code-flow.md: successful response = code, state
    dcr="no",  # agentgateway#2408; csharp-sdk#681 (Microsoft Q&A answer linked there)
    cimd="no",  # UNVERIFIED: no client_id_metadata_document_supported in captured metadata
    # AADSTS9010010 / AADSTS901002 (issues above); accepted only when it equals an identifier
    # URI of the API app (anomalyco/opencode#12308, comment by an Entra engineer)
    resource_param="rejected",
    audience="configured",  # claims reference: "In v2.0 tokens ... always the client ID of the API"
    audience_hint="the API app registration's Application (client) ID, a GUID",
    jwks_template="https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
    # claims reference: scp space-separated short names (e.g. access_as_user) for delegated
    # tokens; roles, a JSON array of app-role values, for app-only (client-credentials) tokens
    scope_claims=("scp", "roles"),
    client_id_claim="azp",  # claims reference: azp in v2.0 tokens
    typ_header="JWT",  # claims reference: "always JWT"
    send_resource=False,
    scope_prefix_template="{app_id_uri}/",  # scopes-oidc.md: identifier URI + "/" + value
    # access-tokens.md: the API app's accessTokenAcceptedVersion picks v1 or v2 tokens from any
    # endpoint; accepting the tenant's other form keeps a v1 -> v2 migration working
    other_token_issuers=(
        (
            "https://sts.windows.net/{tenant}/",
            "https://login.microsoftonline.com/{tenant}/discovery/keys",
        ),
    ),
    # claims reference: v1 aud is the App ID URI the client asked for (or the client ID)
    audience_aliases=("{app_id_uri}",),
    unverified=("cimd",),
    doc="docs/idp/entra.md",
    # id-token-claims-reference.md: roles (app-role values assigned to the user) and groups
    # (object IDs by default; "groups overage" past 200: _claim_names instead of groups)
    role_claims=("roles",),
    group_claims=("groups",),
)

ENTRA_V1_TOKENS = replace(
    ENTRA,
    name="entra-v1",
    token_exchange="on_behalf_of",
    title="Microsoft Entra ID, API app with v1 access tokens (accessTokenAcceptedVersion null/1)",
    # access-tokens.md: null and 1 give v1.0 tokens from any endpoint; its v1 sample token has
    # iss https://sts.windows.net/<tenant>/ ; v1 keys: drop /v2.0 from the keys URL
    token_issuer_template="https://sts.windows.net/{tenant}/",
    jwks_template="https://login.microsoftonline.com/{tenant}/discovery/keys",
    audience_hint="the App ID URI the client asked for (api://...), or the client ID: v1 tokens "
    "carry either (claims reference)",
    client_id_claim="appid",  # claims reference: appid only in v1.0 tokens
    other_token_issuers=(
        (
            "https://login.microsoftonline.com/{tenant}/v2.0",
            "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
        ),
    ),
)


# --- Auth0 -------------------------------------------------------------------------------
# Sources: auth0.com/docs secure/tokens/access-tokens/access-token-profiles (iss with trailing
# slash, aud array incl. /userinfo, azp vs client_id, token dialects), auth0.com/ai/docs mcp/
# guides/resource-param-compatibility-profile (resource parameter, iss toggle), auth0.com/docs
# get-started/applications/dynamic-client-registration (off by default, open when on,
# /oidc/register), support.auth0.com "Value of the Audience Attribute" (no audience -> opaque
# token for /userinfo), auth0/auth0-auth-js PR #45 (jwks_uri), FastMCP 4.1.6
# providers/auth0.py (both well-known documents, `permissions` claim, API identifier = resource).

AUTH0 = IdPProfile(
    name="auth0",
    token_exchange="rfc8693",  # Custom Token Exchange (an Action validates the subject token)
    title="Auth0",
    issuer_template="https://{domain}/",  # access-token-profiles: "iss": "https://my-domain.auth0.com/"
    # root issuer: the inserted and appended URLs coincide; FastMCP reads both documents
    discovery_forms=frozenset(
        {"oauth-inserted", "oauth-appended", "openid-inserted", "openid-appended"}
    ),
    advertises_s256=None,  # UNVERIFIED
    iss_response="opt-in",  # "Include Issuer in Authorization Responses" tenant toggle
    dcr="opt-in",  # off by default; when on, open registration (no initial access token)
    cimd="opt-in",  # UNVERIFIED beyond FastMCP's Auth0MCPProvider docstring
    # "Resource Parameter Compatibility Profile" toggle; `audience` wins when both are sent
    resource_param="opt-in",
    audience="resource",  # aud = the API identifier; FastMCP: set it to the server's resource URL
    audience_hint="the Auth0 API identifier; create the API with identifier = the MCP server URL",
    jwks_template="{issuer}.well-known/jwks.json",  # issuer ends in "/"
    # access-token-profiles: with RBAC "Add Permissions in the Access Token" the granted API
    # permissions are a JSON array in `permissions`, next to the consented `scope` string
    scope_claims=("scope", "permissions"),
    client_id_claim="azp",  # Auth0 profile; the RFC 9068 profile uses client_id
    typ_header="JWT",  # UNVERIFIED; the RFC 9068 profile should send at+jwt (RFC 9068 §2.1)
    # support.auth0.com "Value of the Audience Attribute"; the client-credentials token request
    # takes it too (Auth0 "Call Your API Using the Client Credentials Flow")
    audience_param="audience",
    unverified=("advertises_s256", "cimd", "typ_header", "token_exchange"),
    doc="docs/idp/auth0.md",
    # no standard claim: an Action adds namespaced custom claims ("https://<ns>/roles")
    role_claims=(),
    group_claims=(),
)


# --- Okta --------------------------------------------------------------------------------
# Sources: developer.okta.com Custom Authorization Servers API ("two URL formats": RFC 8414
# /.well-known/oauth-authorization-server/oauth2/<id> and legacy /oauth2/<id>/.well-known/...),
# Org Authorization Server page (org AS tokens cannot be validated by your apps),
# help.okta.com "Create an authorization server" (Audience = default aud), okta/okta-jwt-
# verifier-python (issuer = org URL + /oauth2/default, audience api://default, JWKS
# <issuer>/v1/keys, RS256 only), modelcontextprotocol/modelcontextprotocol#695 (DCR needs an
# API token).

OKTA = IdPProfile(
    name="okta",
    token_exchange="rfc8693",  # On-Behalf-Of token exchange
    title="Okta (custom authorization server)",
    issuer_template="https://{domain}/oauth2/{server}",  # okta-jwt-verifier README
    # oauth forms: Okta API docs; openid-appended UNVERIFIED (standard OIDC location)
    discovery_forms=frozenset({"oauth-inserted", "oauth-appended", "openid-appended"}),
    advertises_s256=None,  # UNVERIFIED
    iss_response="unknown",
    dcr="gated",  # modelcontextprotocol#695: /oauth2/v1/clients needs an API token
    cimd="unknown",
    resource_param="unknown",  # UNVERIFIED: aud comes from the authorization server's Audience
    audience="resource",  # set the custom AS's Audience to the MCP server URL (default api://default)
    audience_hint="the custom authorization server's Audience (default api://default); set it "
    "to the MCP server URL, one authorization server per MCP server",
    jwks_template="{issuer}/v1/keys",  # okta-jwt-verifier _construct_jwks_uri
    scope_claims=("scp",),  # UNVERIFIED (a JSON array in every published sample token)
    client_id_claim="cid",  # UNVERIFIED (same samples)
    typ_header=None,  # UNVERIFIED
    unverified=(
        "discovery_forms",
        "advertises_s256",
        "scope_claims",
        "client_id_claim",
        "typ_header",
    ),
    doc="docs/idp/okta.md",
    # a "groups" claim is added on the authorization server (Claims tab, filter by group
    # name); Okta has no roles claim in ID tokens
    role_claims=(),
    group_claims=("groups",),
)


# --- Amazon Cognito ----------------------------------------------------------------------
# Sources: empires-security/mcp-oauth2-aws-cognito#9 (OIDC discovery only, no
# code_challenge_methods_supported), icanbwell/fhir-server#2598 (no RFC 7591), AWS Verified
# Permissions guide "Client and audience validation for Amazon Cognito" (access tokens carry
# client_id, no aud), re:Post "Cognito OAuth access token missing typ header" (token_use claim,
# no typ), FastMCP 4.1.6 providers/aws.py (client_id instead of aud).

COGNITO = IdPProfile(
    name="cognito",
    title="Amazon Cognito user pools",
    # UNVERIFIED against AWS docs (agentic-community/mcp-gateway-registry uses this form)
    issuer_template="https://cognito-idp.{region}.amazonaws.com/{pool}",
    discovery_forms=frozenset({"openid-appended"}),
    advertises_s256=False,
    # Cognito developer guide "Using PKCE in authorization code grants"; re:Post (AWS support):
    # S256 is the only method Cognito supports
    assume_s256=True,
    iss_response="unknown",
    dcr="no",
    cimd="unknown",
    resource_param="unknown",
    audience="none",
    audience_hint="no aud claim: access tokens carry the app client ID in client_id",
    jwks_template="{issuer}/.well-known/jwks.json",  # UNVERIFIED
    scope_claims=("scope",),  # UNVERIFIED
    # no aud: verifier_options requires allowed_client_ids (the app client IDs) instead
    client_id_claim="client_id",
    typ_header=None,
    scope_prefix_template="{resource_server}/",  # UNVERIFIED: custom scopes are <rs-id>/<name>
    unverified=("issuer_template", "jwks_template", "scope_claims", "scope_prefix_template"),
    doc="",
    # Cognito ID tokens: cognito:groups (the user pool groups) and cognito:roles (their IAM
    # role ARNs)
    role_claims=("cognito:roles",),
    group_claims=("cognito:groups",),
)

ALL_PROFILES: tuple[IdPProfile, ...] = (
    KEYCLOAK,
    KEYCLOAK_BEFORE_26_4,
    ENTRA,
    ENTRA_V1_TOKENS,
    AUTH0,
    OKTA,
    COGNITO,
)
