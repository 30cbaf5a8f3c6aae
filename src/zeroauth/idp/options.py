"""Turn an ``IdPProfile`` into keyword arguments for zeroauth's real components.

- ``client_options``  -> ``FlowConfig(**...)`` / ``ZeroAuth(**...)`` (MCP C-22 identity, C-33
  ``resource``, C-37 scopes), built on ``flow_options`` (the profile's flow knobs without a
  client identity: C-18 ``assume_s256_issuers``, ``authorization_params``, ``scope_prefix``);
- ``verifier_options`` -> ``JWTVerifier(**...)`` (RFC 9068 §4: ``iss`` forms with their JWKS,
  accepted ``aud`` values, scope claims, allowed clients; S-19, S-20);
- ``resource_options`` -> ``BearerAuth(**...)`` (RFC 9728 ``authorization_servers``,
  ``scopes_supported``), with ``scope_hierarchy`` for IdPs whose tokens carry short scope names;
- ``authorization_server`` / ``match_issuer`` build and parse issuers from the profile template;
- ``metadata_urls`` lists, in zeroauth's C-14/C-15 candidate order, the well-known URLs the IdP
  actually serves (the first one is where discovery succeeds); ``detect`` names the IdP behind
  an issuer by its well-known host or path shape.

Pure functions, no I/O. Knobs zeroauth lacks are never faked here: they are ``Gap`` records on
the profile (``flow_gaps``, ``verifier_gaps``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from zeroauth.core.flow.config import OIDC_SCOPES, qualify_scopes
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import metadata_candidates
from zeroauth.core.urls import origin
from zeroauth.idp.profiles import (
    AUTH0,
    COGNITO,
    ENTRA,
    KEYCLOAK,
    OKTA,
    DiscoveryForm,
    IdPProfile,
)

__all__ = [
    "OIDC_SCOPES",
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

_WIDE = frozenset({"base"})  # placeholders that may span path segments (Keycloak's /auth)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _fill(template: str, values: Mapping[str, str], *, what: str, profile: IdPProfile) -> str:
    missing = [name for name in _fields(template) if name not in values]
    if missing:
        raise ValueError(
            f"{profile.name}: {what} {template!r} needs {', '.join(missing)} "
            f"(pass them as keyword arguments)"
        )
    return template.format_map(dict(values))


def authorization_server(profile: IdPProfile, **params: str) -> str:
    """The AS issuer from the profile template, e.g. ``authorization_server(KEYCLOAK,
    base="https://kc.example.com", realm="mcp")``."""
    return _fill(profile.issuer_template, params, what="issuer template", profile=profile)


def match_issuer(profile: IdPProfile, issuer: str) -> dict[str, str] | None:
    """The template fields of ``issuer`` (exact match of the template's literal parts), or None."""
    pattern = ""
    for literal, name, _, _ in string.Formatter().parse(profile.issuer_template):
        pattern += re.escape(literal)
        if name:
            body = r"https?://[^?#\s]+?" if name in _WIDE else r"[^/?#\s]+"
            pattern += f"(?P<{name}>{body})"
    found = re.fullmatch(pattern, issuer)
    return None if found is None else found.groupdict()


def detect(issuer: str) -> IdPProfile | None:
    """The profile whose well-known hosting matches ``issuer`` (a hint for diagnostics, never a
    security decision). Keycloak is recognised by its ``/realms/<name>`` path only."""
    host = (urlsplit(issuer).hostname or "").lower()
    if host.startswith("login.microsoftonline.") and match_issuer(ENTRA, issuer):
        return ENTRA
    if host.startswith("cognito-idp.") and host.endswith(".amazonaws.com"):
        return COGNITO if match_issuer(COGNITO, issuer) else None
    if host.endswith((".okta.com", ".oktapreview.com", ".okta-emea.com")):
        return OKTA if match_issuer(OKTA, issuer) else None
    if host.endswith(".auth0.com"):
        return AUTH0 if match_issuer(AUTH0, issuer) else None
    if match_issuer(KEYCLOAK, issuer):
        return KEYCLOAK
    return None


def _form_urls(issuer: str) -> dict[DiscoveryForm, str]:
    base, path = origin(issuer), urlsplit(issuer).path.rstrip("/")
    return {
        "oauth-inserted": f"{base}/.well-known/oauth-authorization-server{path}",
        "openid-inserted": f"{base}/.well-known/openid-configuration{path}",
        "openid-appended": f"{base}{path}/.well-known/openid-configuration",
        "oauth-appended": f"{base}{path}/.well-known/oauth-authorization-server",
    }


def metadata_urls(profile: IdPProfile, issuer: str) -> tuple[str, ...]:
    """zeroauth's candidates for ``issuer`` (C-14, C-15 order) that this IdP serves; discovery
    finds the metadata at the first one. Empty when zeroauth tries none of its forms."""
    forms = _form_urls(issuer)
    served = {forms[form] for form in profile.discovery_forms}
    return tuple(url for url in metadata_candidates(issuer) if url in served)


def _prefix(profile: IdPProfile, params: Mapping[str, str]) -> str | None:
    if profile.scope_prefix_template is None:
        return None
    return _fill(profile.scope_prefix_template, params, what="scope prefix", profile=profile)


def flow_options(
    profile: IdPProfile,
    *,
    issuers: Iterable[str] = (),
    audience: str | None = None,
    **params: str,
) -> dict[str, Any]:
    """The ``FlowConfig`` knobs ``profile`` needs, without a client identity (``client_options``
    adds that; the CLI's config file uses this directly):

    - ``send_resource=False`` where the IdP rejects RFC 8707 ``resource`` (Entra; C-33);
    - ``assume_s256_issuers=issuers`` where the IdP documents PKCE S256 but its metadata omits
      ``code_challenge_methods_supported`` (Entra, Cognito; C-18);
    - ``authorization_params={<audience_param>: audience}`` where the IdP names the target API
      with its own parameter (Auth0 ``audience``); ``ValueError`` for an IdP without one;
    - ``scope_prefix`` from the profile's template when its fields are in ``params`` (Entra
      ``app_id_uri="api://my-api"`` gives ``api://my-api/``; C-37, C-39). Without them no
      prefix: servers that advertise qualified scope names need none.
    """
    options: dict[str, Any] = {}
    if not profile.send_resource:
        options["send_resource"] = False
    listed = frozenset(issuers)
    if profile.assume_s256 and listed:
        options["assume_s256_issuers"] = listed
    if audience is not None:
        if profile.audience_param is None:
            raise ValueError(
                f"{profile.name}: no audience parameter; the API is chosen by the RFC 8707 "
                f"resource ({profile.audience_hint})"
            )
        options["authorization_params"] = {profile.audience_param: audience}
    template = profile.scope_prefix_template
    if template is not None and all(name in params for name in _fields(template)):
        options["scope_prefix"] = _prefix(profile, params)
    return options


def client_options(
    profile: IdPProfile,
    *,
    issuer: str,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uris: Sequence[str] = (),
    scopes: Sequence[str] | None = None,
    audience: str | None = None,
    **params: str,
) -> dict[str, Any]:
    """Keyword arguments for ``FlowConfig`` / ``ZeroAuth`` that fit ``profile`` (see
    ``flow_options`` for the knobs, with ``issuers=(issuer,)``).

    ``client_id`` (and ``client_secret`` for a confidential client) registers a pre-registered
    client for ``issuer`` (C-27); required when the IdP offers neither DCR nor CIMD to MCP
    clients. ``audience`` is the API identifier for IdPs with an ``audience_param`` (Auth0;
    unneeded there when its Resource Parameter Compatibility Profile is on). ``scopes``
    overrides scope selection; with a ``scope_prefix_template`` (Entra, Cognito) they are
    qualified, e.g. ``app_id_uri="api://my-api"`` gives ``api://my-api/read``, and the same
    prefix qualifies the scopes the flow selects itself (``scope_prefix``).
    """
    options = flow_options(profile, issuers=(issuer,), audience=audience, **params)
    if client_id is not None:
        options["preregistered"] = {
            issuer: ClientInfo(
                client_id=client_id,
                issuer=issuer,
                source="pre-registered",
                client_secret=client_secret,
                redirect_uris=tuple(redirect_uris),
            )
        }
    elif profile.dcr not in ("yes", "opt-in") and profile.cimd not in ("yes", "opt-in"):
        raise ValueError(
            f"{profile.name}: no dynamic registration for MCP clients (dcr={profile.dcr}, "
            f"cimd={profile.cimd}); register an application and pass client_id=",
        )
    if scopes is not None:
        prefix = _prefix(profile, params)
        options["scopes"] = tuple(scopes) if prefix is None else qualify_scopes(scopes, prefix)
    return options


def verifier_options(
    profile: IdPProfile,
    *,
    issuer: str,
    resource: str,
    audience: str | Sequence[str] | None = None,
    jwks_uri: str | None = None,
    allowed_client_ids: Sequence[str] | None = None,
    **params: str,
) -> dict[str, Any]:
    """Keyword arguments for ``JWTVerifier`` accepting this IdP's access tokens for ``resource``
    (RFC 9068 §4; S-19, S-20).

    ``issuer`` is the AS issuer (as in PRM); the token issuer and the JWKS URL come from the
    profile templates (fields parsed from ``issuer``, or given in ``params``). ``jwks_uri``
    overrides the template: pass the metadata's ``jwks_uri`` when you have it. Where the
    tenant's tokens come in several issuer forms (Entra v1 ``https://sts.windows.net/<tid>/``
    and v2 ``…/<tid>/v2.0``) the result is ``issuers={iss: jwks_uri, …}``, the profile's own
    form first; otherwise ``issuer=`` and ``jwks_uri=``.

    ``audience`` (one value or several) becomes ``audiences=``; it defaults to ``resource``
    where the IdP can be set up to put the MCP URL in ``aud``. Entra needs it (its v2 ``aud`` is
    the API app's client ID); with ``app_id_uri=`` the App ID URI is accepted too (v1 tokens).
    ``scope_claims`` are the claims the IdP writes scopes into (Entra ``scp`` + ``roles``,
    Auth0 ``scope`` + ``permissions``, Okta ``scp``). ``allowed_client_ids`` restricts the
    calling clients (``client_id``/``azp``/``appid``); it is required for an IdP whose access
    tokens have no ``aud`` (Cognito: the app client IDs), where it replaces the audience.
    """
    fields: dict[str, str] = {**(match_issuer(profile, issuer) or {}), **params, "issuer": issuer}
    token_issuer = _fill(profile.token_issuer_template, fields, what="iss", profile=profile)
    keys = jwks_uri or _fill(profile.jwks_template, fields, what="JWKS template", profile=profile)
    options: dict[str, Any] = {
        "resource": resource,
        "algorithms": profile.algorithms,
        "required_typ": profile.typ_header is not None and profile.typ_header.lower() == "at+jwt",
        "scope_claims": profile.scope_claims,
    }
    issuers = {token_issuer: keys}
    for iss_template, jwks_template in profile.other_token_issuers:
        if not all(name in fields for name in _fields(iss_template + jwks_template)):
            continue  # an issuer outside the template (a test bed, another cloud)
        other = _fill(iss_template, fields, what="iss", profile=profile)
        issuers.setdefault(
            other, _fill(jwks_template, fields, what="JWKS template", profile=profile)
        )
    if len(issuers) > 1:
        options["issuers"] = issuers
    else:
        options |= {"issuer": token_issuer, "jwks_uri": keys}
    if audience is not None:
        audiences = [audience] if isinstance(audience, str) else list(audience)
        for template in profile.audience_aliases:
            if all(name in fields for name in _fields(template)):
                alias = _fill(template, fields, what="audience alias", profile=profile)
                audiences += [alias] if alias not in audiences else []
        options["audiences"] = tuple(audiences)
    elif profile.audience == "configured":
        raise ValueError(f"{profile.name}: pass audience= ({profile.audience_hint})")
    if allowed_client_ids is not None:
        if isinstance(allowed_client_ids, str) or not allowed_client_ids:
            raise ValueError("allowed_client_ids must be a non-empty list of client IDs")
        options["allowed_client_ids"] = frozenset(allowed_client_ids)
    elif profile.audience == "none":
        raise ValueError(
            f"{profile.name}: its access tokens have no aud ({profile.audience_hint}); pass "
            "allowed_client_ids=[<app client ID>, ...] to bind them to your clients"
        )
    return options


def resource_options(
    profile: IdPProfile, *, issuer: str, scopes: Sequence[str] = (), **params: str
) -> dict[str, Any]:
    """``BearerAuth`` keyword arguments: the exact issuer (Auth0's trailing ``/`` kept: C-17
    compares strings) and ``scopes_supported`` in the form the IdP wants on the wire, so a
    zero-config client requests them verbatim (C-37)."""
    twin = issuer[:-1] if issuer.endswith("/") else issuer + "/"
    if match_issuer(profile, issuer) is None and match_issuer(profile, twin) is not None:
        raise ValueError(
            f"{profile.name}: the issuer is {twin!r}, not {issuer!r}: clients compare it with "
            "the metadata's issuer character by character (C-17)"
        )
    options: dict[str, Any] = {"authorization_servers": [issuer]}
    if scopes:
        prefix = _prefix(profile, params)
        options["scopes_supported"] = (
            list(scopes) if prefix is None else list(qualify_scopes(scopes, prefix))
        )
    return options


def scope_hierarchy(
    profile: IdPProfile, scopes: Sequence[str], **params: str
) -> dict[str, list[str]]:
    """For ``ScopePolicy(hierarchy=...)`` / ``protect(hierarchy=...)``: each short name the
    IdP puts in the token (Entra ``scp``: ``read``) implies the qualified name the server
    advertises and requires (``api://app/read``). Empty for IdPs without a scope prefix."""
    prefix = _prefix(profile, params)
    if prefix is None:
        return {}
    pairs = ((short, qualify_scopes([short], prefix)) for short in scopes)
    return {short: [q[0]] for short, q in pairs if q and q[0] != short}
