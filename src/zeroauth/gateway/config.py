"""Gateway configuration: one TOML file, validated field by field.

The gateway is an OAuth 2.1 resource server (RFC 6750, RFC 9728, MCP authorization 2026-07-28
S-01..S-28) in front of internal MCP servers, with its own credentials per upstream (G-16, no
token passthrough; SECURITY.md B11). Every refusal raises ``InvalidInput`` naming the key
(``where="gateway.toml: upstream[2].url"``), what was expected and how to fix it.

Secrets are never written in the file: they are read from environment variables named by
``*_env`` keys, when the configuration is loaded (a missing variable is a configuration error).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zeroauth.core.errors import InvalidInput
from zeroauth.core.resource import canonical_resource

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


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """A trusted authorization server and how its tokens are verified."""

    issuer: str
    verify: Literal["jwt", "introspection"] = "jwt"
    jwks_uri: str | None = None  # None: discovered from the issuer's metadata at start
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    audience_check: bool = True
    introspection_endpoint: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    """The gateway's OWN credentials for one upstream (never the caller's token: G-16)."""

    type: Literal["none", "bearer", "client_credentials"] = "none"
    token: str | None = field(default=None, repr=False)  # bearer
    token_endpoint: str | None = None  # client_credentials: this, or discovered from issuer
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    scope: tuple[str, ...] = ()
    resource: str | None = None  # RFC 8707; default: the upstream URL


@dataclass(frozen=True, slots=True)
class StdioConfig:
    """A local MCP server the gateway starts itself: argv, environment, sandbox limits (G-17).

    ``env`` is the child's complete environment except ``PATH`` (explicit values from the file
    plus the ``pass_env`` variables copied from the gateway's environment at load time). A limit
    of 0 means "not limited".
    """

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None  # None: a fresh private temporary directory per start
    cpu_seconds: int = 3600
    memory_mb: int = 2048
    max_open_files: int = 256
    max_file_mb: int = 1024
    stderr_lines: int = 100  # stderr lines logged per 10 s at most (the rest counted)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One internal MCP server: streamable HTTP (``url``) or a sandboxed stdio subprocess."""

    name: str
    url: str
    prefix: str
    read_scopes: tuple[str, ...]
    write_scopes: tuple[str, ...]
    write_implies_read: bool = True
    trust_annotations: bool = True
    tools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timeout: float = 30.0
    max_connections: int = 64
    verify_tls: bool = True
    ca_file: str | None = None
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    stdio: StdioConfig | None = None  # set: ``url`` is only a label ("stdio:<command>")

    @property
    def transport(self) -> Literal["http", "stdio"]:
        return "stdio" if self.stdio is not None else "http"

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.read_scopes, *self.write_scopes)))


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Optional signed caller-identity header sent to upstreams (a short-lived JWT)."""

    header: str = "X-ZeroAuth-Identity"
    algorithm: Literal["HS256", "ES256"] = "HS256"
    secret: str | None = field(default=None, repr=False)  # HS256
    private_key_pem: bytes | None = field(default=None, repr=False)  # ES256
    ttl: int = 60


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole gateway: its public resource, who it trusts, and its upstreams."""

    resource: str
    issuers: tuple[IssuerConfig, ...]
    upstreams: tuple[UpstreamConfig, ...]
    resource_name: str | None = None
    server_name: str = "zeroauth-gateway"
    instructions: str | None = None
    required_scopes: tuple[str, ...] = ()
    hierarchy: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    identity: IdentityConfig | None = None
    catalog_ttl: float = 60.0
    max_body_size: int = 4 * 1024 * 1024
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    metrics_path: str = "/metrics"
    host: str = "127.0.0.1"
    port: int = 8080
    source: str = "gateway.toml"

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        found = list(self.required_scopes)
        for upstream in self.upstreams:
            found.extend(upstream.scopes)
        return tuple(dict.fromkeys(found))

    @property
    def full_hierarchy(self) -> dict[str, tuple[str, ...]]:
        """Configured hierarchy plus ``write -> read`` per upstream (``write_implies_read``)."""
        merged: dict[str, list[str]] = {k: list(v) for k, v in self.hierarchy.items()}
        for up in self.upstreams:
            if up.write_implies_read:
                for broad in up.write_scopes:
                    merged.setdefault(broad, []).extend(s for s in up.read_scopes if s != broad)
        return {k: tuple(dict.fromkeys(v)) for k, v in merged.items()}


def parse_config(data: Mapping[str, Any], *, source: str = "gateway.toml") -> GatewayConfig:
    from zeroauth.gateway import config_reader as R  # noqa: N812
    from zeroauth.gateway import config_sections as S  # noqa: N812  (the sections use our types)

    """Validate a parsed TOML document (raises ``InvalidInput`` naming the key)."""
    top = R.Reader(data, "", source)
    top.known.update({"gateway", "issuer", "upstream", "hierarchy", "identity"})
    top.finish()
    g = R.Reader(R.table(data.get("gateway", {}), "gateway", source), "gateway", source)
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
    issuers_raw = data.get("issuer")
    if not isinstance(issuers_raw, list) or not issuers_raw:
        raise InvalidInput(
            "no trusted issuer",
            requirement="S-02",
            where=f"{source}: issuer",
            expected="at least one [[issuer]] table",
            found=issuers_raw,
            hint='add [[issuer]] issuer = "https://idp.example.com/realms/x"',
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
    upstreams = tuple(S.upstream_section(u, i, source) for i, u in enumerate(upstreams_raw))
    _check_unique(upstreams, source)
    h = R.Reader(R.table(data.get("hierarchy", {}), "hierarchy", source), "hierarchy", source)
    hierarchy = {k: h.scopes(k, ()) for k in list(h.data)}
    port = g.get("port", int, 8080, "a TCP port")
    config = GatewayConfig(
        resource=resource,
        issuers=tuple(S.issuer_section(i, n, source) for n, i in enumerate(issuers_raw)),
        upstreams=upstreams,
        resource_name=g.get("resource_name", str, None, "a human-readable name"),
        server_name=g.get("server_name", str, "zeroauth-gateway", "the MCP serverInfo name"),
        instructions=g.get("instructions", str, None, "text for the MCP client"),
        required_scopes=g.scopes("required_scopes", ()),
        hierarchy=hierarchy,
        identity=S.identity_section(data["identity"], source) if "identity" in data else None,
        catalog_ttl=float(g.get("catalog_ttl", (int, float), 60.0, "seconds")),
        max_body_size=g.get("max_body_size", int, 4 * 1024 * 1024, "bytes"),
        health_path=R.path(g, "health_path", "/healthz"),
        ready_path=R.path(g, "ready_path", "/readyz"),
        metrics_path=R.path(g, "metrics_path", "/metrics"),
        host=g.get("host", str, "127.0.0.1", "an address to bind"),
        port=port,
        source=source,
    )
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
