"""The gateway's configuration as typed values: frozen dataclasses, one per TOML section.

These are the types every other gateway module works with (the resource server of RFC 6750 and
RFC 9728, the upstream client with its own credentials, G-16). They hold already validated
values; reading and checking the TOML file is ``zeroauth.gateway._config`` (``parse_config``,
``load_config``), which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from zeroauth.bridge._config import BridgeConfig

__all__ = [
    "CredentialsConfig",
    "GatewayConfig",
    "IdentityConfig",
    "IssuerConfig",
    "StdioConfig",
    "UpstreamConfig",
]


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """A trusted authorization server and how its tokens are verified."""

    issuer: str
    verify: Literal["jwt", "introspection"] = "jwt"
    jwks_uri: str | None = None  # None: discovered from the issuer's metadata at start
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    audience_check: bool = True
    # accepted `aud` values (S-20); None: the gateway's resource. Entra v2: the API app's
    # client ID (a GUID); v1: its Application ID URI (api://…)
    audience: tuple[str, ...] | None = None
    introspection_endpoint: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    """The gateway's OWN credentials for one upstream (never the caller's token: G-16)."""

    type: Literal["none", "bearer", "client_credentials", "exchange"] = "none"
    exchange_style: Literal["rfc8693", "on_behalf_of"] = "rfc8693"  # type "exchange" only
    token: str | None = field(default=None, repr=False)  # bearer
    token_endpoint: str | None = None  # client_credentials: this, or discovered from issuer
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"  # or client_secret_post, private_key_jwt
    private_key: str | None = field(default=None, repr=False)  # PEM, for private_key_jwt
    signing_alg: str | None = None  # private_key_jwt: default from the key type
    scope: tuple[str, ...] = ()
    resource: str | None = None  # RFC 8707; default: the upstream URL
    # extension parameters of the token request (Auth0 `audience`): FlowConfig.authorization_params
    authorization_params: Mapping[str, str] = field(default_factory=dict)


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
        """Every scope an operation on this upstream may need: read, write and per-tool."""
        per_tool = [scope for needed in self.tools.values() for scope in needed]
        return tuple(dict.fromkeys((*self.read_scopes, *self.write_scopes, *per_tool)))


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
    dpop: Literal["off", "allowed", "required"] = "off"  # callers' DPoP-bound tokens (RFC 9449)
    source: str = "gateway.toml"
    # ``[bridge]``: the authorization bridge on the gateway's origin, named first in the PRM
    bridge: BridgeConfig | None = None

    @property
    def authorization_servers(self) -> tuple[str, ...]:
        """The RFC 9728 ``authorization_servers``: the bridge (when configured), then the
        ``[[issuer]]`` list."""
        own = (self.bridge.issuer,) if self.bridge is not None else ()
        return (*own, *(issuer.issuer for issuer in self.issuers))

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
