"""Gateway configuration: one TOML file, validated field by field.

The gateway is an OAuth 2.1 resource server (RFC 6750, RFC 9728, MCP authorization 2026-07-28
S-01..S-28) in front of internal MCP servers, with its own credentials per upstream (G-16, no
token passthrough; threat B11). Every refusal raises ``InvalidInput`` naming the key
(``where="gateway.toml: upstream[2].url"``), what was expected and how to fix it.

Secrets are never written in the file: they are read from environment variables named by
``*_env`` keys, when the configuration is loaded (a missing variable is a configuration error).
The typed values are the dataclasses of ``config_types``, re-exported here. A ``[bridge]``
section (``_config_bridge``) serves the authorization bridge on the gateway's origin; with it,
``[[issuer]]`` is optional.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from zeroauth.core.errors import InvalidInput
from zeroauth.core.resource import canonical_resource
from zeroauth.gateway._config_bridge import bridge_section
from zeroauth.gateway._config_reader import Reader, path, table
from zeroauth.gateway._config_sections import identity_section, issuer_section, upstream_section
from zeroauth.gateway._config_types import (
    CredentialsConfig,
    GatewayConfig,
    IdentityConfig,
    IssuerConfig,
    StdioConfig,
    UpstreamConfig,
)

__all__ = [
    "CredentialsConfig",
    "GatewayConfig",
    "IdentityConfig",
    "IssuerConfig",
    "StdioConfig",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]


def parse_config(data: Mapping[str, Any], *, source: str = "gateway.toml") -> GatewayConfig:
    """Validate a parsed TOML document (raises ``InvalidInput`` naming the key)."""
    top = Reader(data, "", source)
    top.known.update({"gateway", "issuer", "upstream", "hierarchy", "identity", "bridge"})
    top.finish()
    g = Reader(table(data.get("gateway", {}), "gateway", source), "gateway", source)
    resource = str(
        g.url("resource", required=True, hint='the public URL, e.g. "https://mcp.example.com/mcp"')
    )
    if canonical_resource(resource) != resource:
        g.fail(
            "resource",
            "not in canonical form",
            expected=canonical_resource(resource),
            found=resource,
            hint="clients compare it character by character (S-04)",
        )
    issuers_raw = data.get("issuer", [] if "bridge" in data else None)
    if not isinstance(issuers_raw, list) or (not issuers_raw and "bridge" not in data):
        raise InvalidInput(
            "no trusted issuer",
            requirement="S-02",
            where=f"{source}: issuer",
            expected="at least one [[issuer]] table, or a [bridge] section",
            found=issuers_raw,
            hint='add [[issuer]] issuer = "https://idp.example.com/realms/x" (or a [bridge] '
            "in front of an IdP that cannot register MCP clients, docs/bridge.md)",
        )
    upstreams_raw = data.get("upstream")
    if not isinstance(upstreams_raw, list) or not upstreams_raw:
        raise InvalidInput(
            "no upstream",
            where=f"{source}: upstream",
            found=upstreams_raw,
            expected="at least one [[upstream]] table",
            hint='add [[upstream]] name = "github" url = "http://..."',
        )
    upstreams = tuple(upstream_section(u, i, source) for i, u in enumerate(upstreams_raw))
    _check_unique(upstreams, source)
    h = Reader(table(data.get("hierarchy", {}), "hierarchy", source), "hierarchy", source)
    hierarchy = {k: h.scopes(k, ()) for k in list(h.data)}
    port = g.get("port", int, 8080, "a TCP port")
    config = GatewayConfig(
        resource=resource,
        issuers=tuple(issuer_section(i, n, source) for n, i in enumerate(issuers_raw)),
        upstreams=upstreams,
        resource_name=g.get("resource_name", str, None, "a human-readable name"),
        server_name=g.get("server_name", str, "zeroauth-gateway", "the MCP serverInfo name"),
        instructions=g.get("instructions", str, None, "text for the MCP client"),
        required_scopes=g.scopes("required_scopes", ()),
        hierarchy=hierarchy,
        identity=identity_section(data["identity"], source) if "identity" in data else None,
        catalog_ttl=float(g.get("catalog_ttl", (int, float), 60.0, "seconds")),
        max_body_size=g.get("max_body_size", int, 4 * 1024 * 1024, "bytes"),
        health_path=path(g, "health_path", "/healthz"),
        ready_path=path(g, "ready_path", "/readyz"),
        metrics_path=path(g, "metrics_path", "/metrics"),
        host=g.get("host", str, "127.0.0.1", "an address to bind"),
        port=port,
        dpop=_dpop_mode(g),
        source=source,
    )
    if "bridge" in data:
        bridge = bridge_section(
            data["bridge"], resource=resource, scopes=config.scopes_supported, source=source
        )
        if bridge.issuer in (i.issuer for i in config.issuers):
            raise InvalidInput(
                "the bridge is also an [[issuer]]",
                where=f"{source}: bridge.issuer",
                found=bridge.issuer,
                hint="remove that [[issuer]]: the gateway trusts its bridge in process",
            )
        config = replace(config, bridge=bridge)
    if "offline_access" in config.scopes_supported:
        g.fail(
            "required_scopes",
            "offline_access is not a resource scope",
            found="offline_access",
            expected="resource scopes only",
            hint="remove it (S-06)",
        )
    g.finish()
    return config


def _check_unique(upstreams: Sequence[UpstreamConfig], source: str) -> None:
    seen: dict[str, int] = {}
    prefixes: dict[str, str] = {}
    for i, up in enumerate(upstreams):
        if up.name in seen:
            raise InvalidInput(
                "duplicate upstream name",
                where=f"{source}: upstream[{i}].name",
                found=up.name,
                hint=f"already used by upstream[{seen[up.name]}]",
            )
        seen[up.name] = i
        for other, name in prefixes.items():
            if up.prefix.startswith(other) or other.startswith(up.prefix):
                raise InvalidInput(
                    "ambiguous tool prefix",
                    where=f"{source}: upstream[{i}].prefix",
                    found=up.prefix,
                    expected=f"not a prefix of {other!r} ({name})",
                    hint='give each upstream a distinct prefix like "jira_"',
                )
        prefixes[up.prefix] = up.name


def _dpop_mode(g: Reader) -> Literal["off", "allowed", "required"]:
    """``[gateway] dpop``: accept callers' DPoP-bound tokens (RFC 9449 §7) as well as Bearer
    ("allowed") or only them ("required")."""
    mode = g.get("dpop", str, "off", '"off", "allowed" or "required"')
    if mode not in ("off", "allowed", "required"):
        g.fail("dpop", "unknown DPoP mode", found=mode,
               expected='"off", "allowed" or "required"', hint="see docs/gateway.md")  # fmt: skip
    return "required" if mode == "required" else "allowed" if mode == "allowed" else "off"


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a TOML file."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            "cannot read the configuration",
            where=str(file),
            found=str(exc),
            hint="check the path given to --config",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            "not valid TOML",
            where=str(file),
            found=str(exc),
            hint="fix the syntax at the line shown",
        ) from None
    return parse_config(data, source=file.name)
