"""One protected front door for many MCP servers (``zeroauth gateway --config gateway.toml``).

See ``docs/gateway.md``. The gateway is an OAuth 2.1 resource server for its callers (RFC 6750,
RFC 9728, MCP authorization 2026-07-28) and an MCP client of its upstreams with its own
credentials (G-16: the caller's token never leaves the gateway).
"""

from zeroauth.gateway._app import GatewayApp, build_state
from zeroauth.gateway._config import (
    CredentialsConfig,
    GatewayConfig,
    IdentityConfig,
    IssuerConfig,
    UpstreamConfig,
    load_config,
    parse_config,
)
from zeroauth.gateway._identity import CallerIdentity, IdentityVerifier

__all__ = [
    "CallerIdentity",
    "CredentialsConfig",
    "GatewayApp",
    "GatewayConfig",
    "IdentityConfig",
    "IdentityVerifier",
    "IssuerConfig",
    "UpstreamConfig",
    "build_state",
    "load_config",
    "parse_config",
]
