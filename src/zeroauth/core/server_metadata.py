"""Authorization server metadata: where to find it, the document model, and what it must offer.

Implements:
- RFC 8414 §2 (metadata members), §3 and §3.1 (path-inserted well-known URI), §3.2 (unknown
  members ignored), §3.3 (``issuer`` identical to the issuer the URL was built from).
- OpenID Connect Discovery 1.0 §4 (``/.well-known/openid-configuration`` appended) and §4.3.
- MCP authorization (2026-07-28), "Authorization Server Metadata Discovery" (C-13..C-17:
  candidate order for issuers with and without a path; exact issuer check) and Security
  Considerations, "Authorization Code Protection" (C-18, C-19: S256 must be advertised).
- MCP 2025-03-26, "Authorization Base URL" and "Fallbacks for Servers without Metadata
  Discovery" (C-06, vector A9): the legacy model in which the MCP origin is the AS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from zeroauth.core.errors import ServerMetadataError
from zeroauth.core.resource import canonical_resource
from zeroauth.core.resource_metadata import _Fields, _object
from zeroauth.core.urls import URLPolicy, origin

__all__ = [
    "ServerMetadata",
    "check_capabilities",
    "legacy_metadata",
    "metadata_candidates",
]

OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"
OIDC_WELL_KNOWN = "/.well-known/openid-configuration"

# URL members zeroauth fetches, posts to, or opens: checked by the URL policy (A6, SEC-05/06).
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "jwks_uri",
    "introspection_endpoint",
    "revocation_endpoint",
    "device_authorization_endpoint",  # RFC 8628 §4
)
_ARRAYS = (
    "scopes_supported",
    "grant_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
)
_FLAGS = ("authorization_response_iss_parameter_supported", "client_id_metadata_document_supported")


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """RFC 8414 / OIDC Discovery metadata. ``raw`` keeps every member as received."""

    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    registration_endpoint: str | None = None
    jwks_uri: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    response_types_supported: tuple[str, ...] = ("code",)
    grant_types_supported: tuple[str, ...] | None = None
    code_challenge_methods_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    authorization_response_iss_parameter_supported: bool = False
    client_id_metadata_document_supported: bool = False
    introspection_endpoint: str | None = None
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None  # RFC 8628 §4
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @classmethod
    def from_json(
        cls,
        data: object,
        *,
        issuer: str,
        where: str,
        policy: URLPolicy | None = None,
        legacy: bool = False,
    ) -> ServerMetadata:
        """Validate ``data`` member by member (ServerMetadataError).

        ``issuer`` is the identifier the metadata URL was built from; the document's ``issuer``
        must be identical to it (C-17, I1..I6: no case folding, no trailing-slash repair).
        ``legacy`` (the 2025-03-26 fallback, where ``issuer`` is the MCP origin) also accepts the
        origin written with a trailing ``/``, as the official SDK does on that path.
        With ``policy``, the issuer and every endpoint zeroauth uses must pass it (A6, A7).
        """
        doc = _object(data, where=where, error=ServerMetadataError, requirement="C-13")
        f = _Fields(doc, where=where, error=ServerMetadataError, requirement="C-13")
        found = f.string("issuer", required=True)
        accepted = (issuer, issuer + "/") if legacy and not urlsplit(issuer).path else (issuer,)
        if found not in accepted:
            raise ServerMetadataError(
                "authorization server metadata is for another issuer",
                requirement="C-17",
                where=where,
                expected=issuer,
                found=found,
                hint="the document's `issuer` must be identical to the issuer it was looked up "
                "for (RFC 8414 §3.3); this metadata is not used",
            )
        f.url_value("issuer", found, issuer=True, policy=policy)
        url = {name: f.url(name, policy=policy) for name in _ENDPOINTS}
        response_types = f.strings("response_types_supported")
        if response_types is None and doc.get("response_types_supported") is None:
            response_types = ("code",)
        return cls(
            issuer=issuer,
            authorization_endpoint=url["authorization_endpoint"],
            token_endpoint=url["token_endpoint"],
            registration_endpoint=url["registration_endpoint"],
            jwks_uri=url["jwks_uri"],
            introspection_endpoint=url["introspection_endpoint"],
            revocation_endpoint=url["revocation_endpoint"],
            device_authorization_endpoint=url["device_authorization_endpoint"],
            scopes_supported=f.strings("scopes_supported", scope_tokens=True),
            response_types_supported=response_types or (),
            grant_types_supported=f.strings("grant_types_supported"),
            code_challenge_methods_supported=f.strings("code_challenge_methods_supported"),
            token_endpoint_auth_methods_supported=f.strings(
                "token_endpoint_auth_methods_supported"
            ),
            authorization_response_iss_parameter_supported=f.flag(
                "authorization_response_iss_parameter_supported"
            )
            is True,
            client_id_metadata_document_supported=f.flag("client_id_metadata_document_supported")
            is True,
            raw=MappingProxyType(dict(doc)),
        )

    def to_json(self) -> dict[str, Any]:
        """The document to publish: ``raw`` members overlaid with the typed members that are set."""
        out: dict[str, Any] = dict(self.raw)
        out["issuer"] = self.issuer
        for name in (*_ENDPOINTS, *_ARRAYS, "response_types_supported"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        for name in _FLAGS:
            if getattr(self, name):
                out[name] = True
        return out


def metadata_candidates(issuer: str) -> tuple[str, ...]:
    """C-14..C-16 (A1..A8): RFC 8414 path-inserted, OIDC path-inserted, OIDC appended for an
    issuer with a path; RFC 8414 then OIDC at the root for one without. A terminating ``/`` is
    removed before inserting or appending; the issuer check still uses the exact string."""
    try:
        parts = urlsplit(issuer) if isinstance(issuer, str) else None
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or "?" in issuer
        or "#" in issuer
    ):
        raise ServerMetadataError(
            "not an issuer identifier",
            requirement="C-14",
            where="authorization_servers",
            expected="an http(s) URL without query or fragment (RFC 8414 §2)",
            found=issuer,
            hint="the protected resource metadata lists a malformed authorization server",
        )
    base = origin(issuer)
    path = parts.path.rstrip("/")
    if not path:
        return (base + OAUTH_WELL_KNOWN, base + OIDC_WELL_KNOWN)
    return (
        base + OAUTH_WELL_KNOWN + path,
        base + OIDC_WELL_KNOWN + path,
        base + path + OIDC_WELL_KNOWN,
    )


def check_capabilities(md: ServerMetadata) -> None:
    """Refuse an AS the authorization-code flow cannot use safely (C-18, C-19: M1, M3).

    S256 must be advertised; the authorization and token endpoints must be present; ``code``
    must be a supported response type and, when grant types are listed, ``authorization_code``.
    """

    def refuse(message: str, requirement: str, expected: str, found: object, hint: str) -> None:
        raise ServerMetadataError(
            message,
            requirement=requirement,
            where=md.issuer,
            expected=expected,
            found=found,
            hint=hint,
        )

    methods = md.code_challenge_methods_supported
    if methods is None:
        refuse(
            "authorization server does not advertise PKCE support",
            "C-18",
            "code_challenge_methods_supported containing S256",
            "absent",
            "MCP clients must not proceed without it; ask the AS operator to publish "
            '"code_challenge_methods_supported": ["S256"]',
        )
    elif "S256" not in methods:
        refuse(
            "authorization server does not support PKCE S256",
            "C-19",
            "code_challenge_methods_supported containing S256",
            list(methods),
            "the plain method is not acceptable; enable S256 at the authorization server",
        )
    for name in ("authorization_endpoint", "token_endpoint"):
        if getattr(md, name) is None:
            refuse(f"metadata lacks `{name}`", "C-13", f"`{name}`", "absent", "fix the AS metadata")
    if "code" not in md.response_types_supported:
        refuse(
            "authorization server does not offer the authorization code flow",
            "C-13",
            'response_types_supported containing "code"',
            list(md.response_types_supported),
            "MCP needs the authorization code grant",
        )
    grants = md.grant_types_supported
    if grants is not None and "authorization_code" not in grants:
        refuse(
            "authorization server does not offer the authorization code grant",
            "C-13",
            'grant_types_supported containing "authorization_code"',
            list(grants),
            "MCP needs the authorization code grant",
        )


def legacy_metadata(server_url: str) -> tuple[str, ServerMetadata]:
    """C-06 / A9 (2025-03-26): the metadata URL at the MCP origin, and the metadata to use when
    that URL has none: ``/authorize``, ``/token``, ``/register`` at the origin, issuer = origin.
    PKCE was REQUIRED by that revision, so S256 is assumed."""
    base = origin(canonical_resource(server_url))
    defaults = ServerMetadata(
        issuer=base,
        authorization_endpoint=base + "/authorize",
        token_endpoint=base + "/token",
        registration_endpoint=base + "/register",
        code_challenge_methods_supported=("S256",),
        grant_types_supported=("authorization_code", "refresh_token"),
    )
    return base + OAUTH_WELL_KNOWN, defaults
