"""Which MCP scopes an upstream login grants: the bridge's ``scope_map`` (sans-IO).

The bridge issues its own access tokens; their scopes are what the configured mapping grants
(RFC 6749 §3.3: the authorization server may issue fewer scopes than requested, and then says
so in the token response's ``scope``). A ``scope_map`` value names what the user must hold at the
upstream IdP for the MCP scope:

- ``"api://app/notes.read"`` (or ``"scope:api://app/notes.read"``): an upstream scope, asked for
  upstream and granted iff the upstream granted it (its token response's ``scope``, RFC 6749
  §5.1; as asked when absent); no entry at all means the upstream scope of the same name;
- ``"role:Notes.Writer"``: an app role in the user's role claims (Entra ``roles``, Keycloak
  ``realm_access.roles``, ...), never sent upstream;
- ``"group:mcp-admins"``: a group in the user's group claims (``groups``, ``cognito:groups``),
  never sent upstream;
- a list: any of them (``["role:Notes.Writer", "group:editors"]``).

Role and group claims are read from the verified ID token (OpenID Connect Core §3.1.3.7), or for
a plain OAuth 2.0 upstream from the user document the bridge already reads (``userinfo_url``).
Claim values are matched exactly (case-sensitive); a claim that is a string counts as one value, a
list counts by its string members; anything else (objects, numbers, nested lists) grants nothing.
A claim name with dots walks nested objects (``realm_access.roles``) unless a top-level claim has
that exact name (Auth0's namespaced ``https://example.com/roles``). Only the first
``MAX_VALUES`` values of a claim, each up to ``MAX_VALUE_LENGTH`` characters, are considered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "MAX_VALUES",
    "MAX_VALUE_LENGTH",
    "Requirement",
    "claim_values",
    "granted_for",
    "granted_scopes",
    "parse_requirements",
    "requested_upstream_scopes",
    "requirements",
]

log = logging.getLogger("zeroauth.bridge")

Kind = Literal["scope", "role", "group"]
MAX_VALUES = 2000  # values of one claim considered (Entra caps groups at 200 in a token)
MAX_VALUE_LENGTH = 512  # longer values never match
_MAX_DEPTH = 8  # dotted claim paths
_PREFIXES: tuple[Kind, ...] = ("role", "group", "scope")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One alternative of a mapping: an upstream ``scope``, a ``role`` or a ``group``."""

    kind: Kind
    value: str


def parse_requirements(mcp_scope: str, value: object) -> tuple[Requirement, ...]:
    """A ``scope_map`` value as its alternatives (``ValueError`` saying what is wrong)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(
            f"scope_map[{mcp_scope!r}] must be a string or a non-empty list of strings "
            '(e.g. "api://app/notes.read", "role:Notes.Writer" or ["role:A", "group:b"])'
        )
    out: list[Requirement] = []
    for item in items:
        if not isinstance(item, str) or not item.strip() or item != item.strip():
            raise ValueError(
                f"scope_map[{mcp_scope!r}]: {item!r} is not a non-empty string without "
                "surrounding spaces"
            )
        kind: Kind = "scope"
        name = item
        for prefix in _PREFIXES:
            if item.startswith(prefix + ":"):
                kind, name = prefix, item[len(prefix) + 1 :]
                break
        if not name:
            raise ValueError(f"scope_map[{mcp_scope!r}]: {item!r} names no {kind}")
        if kind == "scope" and any(c.isspace() for c in name):
            raise ValueError(  # RFC 6749 §3.3 scope-token
                f"scope_map[{mcp_scope!r}]: upstream scope {name!r} contains a space"
            )
        out.append(Requirement(kind, name))
    return tuple(dict.fromkeys(out))


def requirements(scope_map: Mapping[str, object], mcp_scope: str) -> tuple[Requirement, ...]:
    """The alternatives granting ``mcp_scope`` (no entry: the upstream scope of that name)."""
    if mcp_scope not in scope_map:
        return (Requirement("scope", mcp_scope),)
    return parse_requirements(mcp_scope, scope_map[mcp_scope])


def requested_upstream_scopes(scope_map: Mapping[str, object], mcp_scope: str) -> tuple[str, ...]:
    """The upstream scopes to ask for ``mcp_scope``: roles and groups are never sent."""
    return tuple(r.value for r in requirements(scope_map, mcp_scope) if r.kind == "scope")


def _lookup(claims: Mapping[str, Any], name: str) -> object:
    if name in claims:
        return claims[name]
    parts = name.split(".")
    if len(parts) == 1 or len(parts) > _MAX_DEPTH:
        return None
    node: object = claims
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def claim_values(claims: Mapping[str, Any], names: Sequence[str]) -> frozenset[str]:
    """The string values of the named claims (hostile shapes grant nothing; bounded)."""
    found: set[str] = set()
    for name in names:
        value = _lookup(claims, name)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            continue  # an object, a number, a boolean, null: nothing
        for item in value[:MAX_VALUES]:
            if isinstance(item, str) and 0 < len(item) <= MAX_VALUE_LENGTH:
                found.add(item)
    return frozenset(found)


def _overage(claims: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Entra's groups overage: too many groups, the claim replaced by ``_claim_names``."""
    pointers = claims.get("_claim_names")
    return isinstance(pointers, Mapping) and any(n in pointers for n in names)


def granted_scopes(
    asked: Iterable[object],
    *,
    scope_map: Mapping[str, object],
    upstream_granted: Iterable[str],
    claims: Mapping[str, Any],
    role_claims: Sequence[str],
    group_claims: Sequence[str],
) -> list[str]:
    """The MCP scopes of ``asked`` that the mapping grants this login (order kept).

    ``offline_access`` is always kept (the bridge's own refresh tokens); anything not granted is
    left out, never refused: the client gets a token with fewer scopes (RFC 6749 §3.3) and the
    resource server answers ``403 insufficient_scope`` where it needs more (RFC 6750 §3.1).
    """
    scopes = frozenset(upstream_granted)
    held: dict[Kind, frozenset[str]] = {
        "scope": scopes,
        "role": claim_values(claims, role_claims),
        "group": claim_values(claims, group_claims),
    }
    granted: list[str] = []
    overage_logged = False
    for scope in asked:
        if not isinstance(scope, str):
            continue
        if scope == "offline_access":
            granted.append(scope)
            continue
        alternatives = requirements(scope_map, scope)
        if any(r.value in held[r.kind] for r in alternatives):
            granted.append(scope)
            continue
        wants_group = any(r.kind == "group" for r in alternatives)
        if wants_group and not overage_logged and _overage(claims, group_claims):
            overage_logged = True
            log.warning(
                "the ID token names too many groups to carry them (Entra groups overage): "
                "group mappings cannot be evaluated; map app roles instead, or emit only the "
                "groups assigned to the application"
            )
    return list(dict.fromkeys(granted))


class _Mapping(Protocol):
    """What ``granted_for`` reads of the upstream configuration (``_config.Upstream``)."""

    @property
    def scope_map(self) -> Mapping[str, object]: ...

    def claim_names(self, kind: str) -> tuple[str, ...]: ...


class _Login(Protocol):
    """What ``granted_for`` reads of a finished login (``_upstream.UpstreamTokens``)."""

    @property
    def granted(self) -> tuple[str, ...]: ...

    @property
    def claims(self) -> Mapping[str, Any]: ...


def granted_for(upstream: _Mapping, asked: object, result: _Login) -> list[str]:
    """``granted_scopes`` for a finished upstream login under ``upstream``'s configuration."""
    return granted_scopes(
        asked if isinstance(asked, (list, tuple)) else (),
        scope_map=upstream.scope_map,
        upstream_granted=result.granted,
        claims=result.claims,
        role_claims=upstream.claim_names("role"),
        group_claims=upstream.claim_names("group"),
    )
