"""Profiles of real identity providers (Keycloak, Entra ID, Auth0, Okta, Cognito) and helpers
that turn them into keyword arguments for zeroauth's client, verifier and middleware.

IdP quirks live here and nowhere else: the client flow and the resource server stay
standard; a profile only chooses among their existing options (``send_resource``,
``assume_s256_issuers``, ``authorization_params``, ``scope_prefix``, …) and records, as ``Gap``,
the knobs an IdP needs that zeroauth does not have yet. See ``docs/idp/``.
"""

from __future__ import annotations

from zeroauth.idp.options import (
    OIDC_SCOPES,
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
from zeroauth.idp.profiles import (
    ALL_PROFILES,
    AUTH0,
    COGNITO,
    ENTRA,
    ENTRA_V1_TOKENS,
    KEYCLOAK,
    KEYCLOAK_BEFORE_26_4,
    OKTA,
    DiscoveryForm,
    Gap,
    IdPProfile,
    Support,
)

__all__ = [
    "ALL_PROFILES",
    "AUTH0",
    "COGNITO",
    "ENTRA",
    "ENTRA_V1_TOKENS",
    "KEYCLOAK",
    "KEYCLOAK_BEFORE_26_4",
    "OIDC_SCOPES",
    "OKTA",
    "DiscoveryForm",
    "Gap",
    "IdPProfile",
    "Support",
    "authorization_server",
    "client_options",
    "detect",
    "flow_options",
    "match_issuer",
    "metadata_urls",
    "qualify_scopes",
    "resource_options",
    "scope_hierarchy",
    "verifier_options",
]
