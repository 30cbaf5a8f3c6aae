"""The authorization bridge: a zero-config MCP authorization server (2026-07-28) in front of an
identity provider that cannot register MCP clients (Entra ID, Okta, Cognito, Google, GitHub,
Keycloak without DCR). MCP clients register here (CIMD or DCR) and get the bridge's own tokens;
users sign in at the upstream IdP, where the bridge is one pre-registered confidential client.
See ``docs/bridge.md``.
"""

from zeroauth.bridge._app import AuthorizationBridge
from zeroauth.bridge._config import BridgeConfig, Upstream
from zeroauth.bridge._store import BridgeStore, SQLiteBridgeStore
from zeroauth.bridge._store_redis import RedisBridgeStore
from zeroauth.bridge._vault import UpstreamTokenError

__all__ = [
    "AuthorizationBridge",
    "BridgeConfig",
    "BridgeStore",
    "RedisBridgeStore",
    "SQLiteBridgeStore",
    "Upstream",
    "UpstreamTokenError",
]
