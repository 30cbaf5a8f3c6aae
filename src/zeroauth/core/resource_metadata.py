"""OAuth 2.0 Protected Resource Metadata: the document model and where to look for it.

Implements:
- RFC 9728 §2 (metadata members), §3.1 (well-known URI: insert between host and path/query,
  S-09), §3.2 (response: unknown members ignored, zero-element members omitted), §5.1 (the
  ``resource_metadata`` URL from ``WWW-Authenticate``).
- MCP authorization (2026-07-28), "Authorization Server Location" (S-02: at least one
  ``authorization_servers`` entry) and "Protected Resource Metadata Discovery Requirements"
  (C-03: header URL, then path-inserted, then root).

Validation is field by field: each registered member gets one type check and an error naming it;
unknown members are kept in ``raw`` and never rejected. The ``resource`` check against the server
URL (C-09) lives in :mod:`zeroauth.core.resource`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from zeroauth.core.errors import ResourceMetadataError, ZeroAuthError
from zeroauth.core.resource import PRMSource, canonical_resource
from zeroauth.core.scopes import is_scope_token
from zeroauth.core.urls import URLPolicy, origin

__all__ = [
    "PRMCandidate",
    "ResourceMetadata",
    "prm_candidates",
    "well_known_prm_url",
]

WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"
MAX_ITEMS = 1000  # array members; the I/O layer also bounds the body (1 MiB)
MAX_STRING = 8192


class _Fields:
    """Typed, bounded readers over one untrusted JSON object; errors name the member."""

    def __init__(
        self, data: Mapping[str, Any], *, where: str, error: type[ZeroAuthError], requirement: str
    ) -> None:
        self.data, self.where, self.error, self.requirement = data, where, error, requirement

    def fail(self, name: str, expected: str, found: object, hint: str | None = None) -> NoReturn:
        raise self.error(
            f"metadata member `{name}` is invalid",
            requirement=self.requirement,
            where=f"{name} in {self.where}",
            expected=expected,
            found=found,
            hint=hint or "the server publishes malformed metadata; report it to its operator",
        )

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            self.fail(name, "present (required)", "absent")
        return value

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_STRING):
            self.fail(name, f"a string of at most {MAX_STRING} characters", value)
        return value

    def url(
        self, name: str, *, required: bool = False, policy: URLPolicy | None = None
    ) -> str | None:
        text = self.string(name, required=required)
        return None if text is None else self.url_value(name, text, policy=policy)

    def url_value(
        self, name: str, text: object, *, policy: URLPolicy | None = None, issuer: bool = False
    ) -> str:
        """An absolute http(s) URL without fragment (and, for issuers, without query)."""
        if not isinstance(text, str) or len(text) > MAX_STRING:
            self.fail(name, f"a URL string of at most {MAX_STRING} characters", text)
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme.lower() not in ("http", "https")
            or not parts.netloc
            or "#" in text
            or (issuer and "?" in text)
        ):
            what = "issuer URL (no query or fragment)" if issuer else "URL without fragment"
            self.fail(name, f"an absolute http(s) {what}", text)
        if policy is not None:
            policy.check_url(text, field=f"{name} in {self.where}", requirement="SEC-05")
        return text

    def strings(self, name: str, *, scope_tokens: bool = False) -> tuple[str, ...] | None:
        """A JSON array of strings; an empty array is read as absent (RFC 9728 §3.2)."""
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            self.fail(name, f"a JSON array of at most {MAX_ITEMS} strings", value)
        for item in value:
            if not isinstance(item, str) or not item or len(item) > MAX_STRING:
                self.fail(name, "non-empty strings only", item)
            if scope_tokens and not is_scope_token(item):  # RFC 6749 §3.3
                self.fail(
                    name, "scope tokens (RFC 6749 §3.3: no spaces, quotes or backslashes)", item
                )
        return tuple(value) or None

    def flag(self, name: str) -> bool | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, bool):
            self.fail(name, "a JSON boolean", value)
        return value


def _object(
    data: object, *, where: str, error: type[ZeroAuthError], requirement: str
) -> Mapping[str, Any]:
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise error(
            "metadata is not a JSON object",
            requirement=requirement,
            where=where,
            expected="a JSON object",
            found=type(data).__name__,
            hint="the URL does not serve metadata; check it in a browser",
        )
    return data


@dataclass(frozen=True, slots=True)
class ResourceMetadata:
    """An RFC 9728 document. ``raw`` keeps every member as received, unknown ones included."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] | None = None
    bearer_methods_supported: tuple[str, ...] | None = None
    resource_name: str | None = None
    jwks_uri: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @classmethod
    def from_json(
        cls, data: object, *, where: str, policy: URLPolicy | None = None
    ) -> ResourceMetadata:
        """Validate ``data`` member by member (ResourceMetadataError, C-07/S-02).

        With ``policy``, every URL the client will fetch (``authorization_servers``,
        ``jwks_uri``) must pass it (URLPolicyError, SEC-05/SEC-06/SEC-04).
        """
        doc = _object(data, where=where, error=ResourceMetadataError, requirement="C-07")
        f = _Fields(doc, where=where, error=ResourceMetadataError, requirement="C-07")
        resource = f.url_value("resource", f.string("resource", required=True))
        servers = doc.get("authorization_servers")
        if not isinstance(servers, list) or not servers or len(servers) > MAX_ITEMS:
            f.requirement = "S-02"
            f.fail(
                "authorization_servers",
                f"a JSON array of 1..{MAX_ITEMS} issuer URLs (MCP requires at least one)",
                servers,
                hint="the MCP server must list its authorization server(s) in its metadata",
            )
        for server in servers:
            f.url_value("authorization_servers", server, issuer=True, policy=policy)
        for name in ("resource_documentation", "resource_policy_uri", "resource_tos_uri"):
            f.url(name)
        for name in (
            "tls_client_certificate_bound_access_tokens",
            "dpop_bound_access_tokens_required",
        ):
            f.flag(name)
        for name in (
            "authorization_details_types_supported",
            "dpop_signing_alg_values_supported",
            "resource_signing_alg_values_supported",
        ):
            f.strings(name)
        f.string("signed_metadata")
        return cls(
            resource=resource,
            authorization_servers=tuple(dict.fromkeys(servers)),
            scopes_supported=f.strings("scopes_supported", scope_tokens=True),
            bearer_methods_supported=f.strings("bearer_methods_supported"),
            resource_name=f.string("resource_name"),
            jwks_uri=f.url("jwks_uri", policy=policy),
            raw=MappingProxyType(dict(doc)),
        )

    def to_json(self) -> dict[str, Any]:
        """The document to publish: ``raw`` members overlaid with the typed members that are set."""
        out: dict[str, Any] = dict(self.raw)
        for name in (
            "resource",
            "authorization_servers",
            "scopes_supported",
            "bearer_methods_supported",
            "resource_name",
            "jwks_uri",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class PRMCandidate:
    """A URL to fetch PRM from, how it was found, and the RFC 9728 §3.3 identifier it is for."""

    url: str
    source: PRMSource
    expected_resource: str


def well_known_prm_url(resource: str) -> str:
    """S-09 / RFC 9728 §3.1: ``/.well-known/oauth-protected-resource`` inserted between the
    host and the path and query (a lone ``/`` path is dropped; a trailing ``/`` and the query
    are kept: P8, P9)."""
    parts = urlsplit(canonical_resource(resource))
    query = f"?{parts.query}" if parts.query else ""
    return f"{origin(resource)}{WELL_KNOWN_PRM}{parts.path}{query}"


def prm_candidates(server_url: str, header_url: str | None = None) -> tuple[PRMCandidate, ...]:
    """C-03 order (P1..P11): the ``resource_metadata`` URL of the 401 when given, then the
    path-inserted well-known URL (skipped when the server URL has no path or query), then the
    root well-known URL. A URL already listed is not repeated. The flow stops at the first
    usable document; after a failing header URL it goes on to the well-known URLs (C-04)."""
    canonical = canonical_resource(server_url)
    parts = urlsplit(canonical)
    root = origin(canonical)
    found: list[PRMCandidate] = []
    if header_url:
        found.append(PRMCandidate(header_url, "header", canonical))
    if parts.path or parts.query:
        found.append(PRMCandidate(well_known_prm_url(canonical), "path", canonical))
    found.append(PRMCandidate(root + WELL_KNOWN_PRM, "root", root))
    unique: dict[str, PRMCandidate] = {}
    for candidate in found:
        unique.setdefault(candidate.url, candidate)
    return tuple(unique.values())
