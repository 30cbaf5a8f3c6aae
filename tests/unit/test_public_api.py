"""The public API, pinned: each public package's ``__all__`` is exactly this list.

Public names are re-exported from the package ``__init__``; implementation modules are private
(``_name.py``). Adding or removing a public name is a deliberate change to this file.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import pytest

PUBLIC: dict[str, list[str]] = {
    "zeroauth": ["__version__"],
    "zeroauth.client": [
        "BrowserUserStep",
        "ClientCredentials",
        "ClientInfo",
        "DeviceUserStep",
        "DiscoveryCache",
        "EnterpriseAuth",
        "FileTokenStore",
        "HeadlessUserStep",
        "Keyring",
        "LogoutResult",
        "MemoryTokenStore",
        "PasteUserStep",
        "RedisTokenStore",
        "ServerStatus",
        "TokenExchanger",
        "TokenStore",
        "UserStep",
        "UserStepBase",
        "ZeroAuth",
        "ZeroAuthHttpx",
        "ZeroAuthManager",
        "ZeroAuthOptions",
        "WorkloadIdentity",
    ],
    "zeroauth.server": [
        "TOKEN_SCOPE_KEY",
        "AccessToken",
        "BearerAuth",
        "DPoP",
        "IntrospectionVerifier",
        "JWKSCache",
        "JWTVerifier",
        "MemoryReplayCache",
        "ProtectedResourceMetadataApp",
        "RedisReplayCache",
        "ReplayCache",
        "RequireActor",
        "ScopePolicy",
        "TokenVerifier",
        "build_resource_metadata",
        "current_caller_token",
        "current_token",
        "protected_resource_routes",
        "requires_scopes",
    ],
    "zeroauth.gateway": [
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
    ],
    "zeroauth.bridge": [
        "AuthorizationBridge",
        "BridgeConfig",
        "BridgeStore",
        "RedisBridgeStore",
        "SQLiteBridgeStore",
        "Upstream",
        "UpstreamTokenError",
    ],
    "zeroauth.devserver": [
        "DevAuthorizationServer",
        "DevCertificates",
        "DevServerConfig",
        "PreregisteredClient",
        "ProtectedResource",
        "ensure_dev_certificates",
    ],
    "zeroauth.idp": [
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
    ],
    "zeroauth.core": [
        "cache_control",
        "challenge",
        "client_auth",
        "client_identity",
        "client_info",
        "device",
        "dpop",
        "dpop_key",
        "errors",
        "flow",
        "grants",
        "jwk",
        "paste",
        "pkce",
        "registration",
        "resource",
        "resource_metadata",
        "revocation",
        "scopes",
        "server_metadata",
        "token_exchange",
        "tokens",
        "urls",
    ],
    "zeroauth.core.errors": [
        "AuthorizationResponseError",
        "BearerError",
        "ChallengeParseError",
        "DeviceFlowError",
        "DiscoveryError",
        "InsufficientScope",
        "InvalidDPoPProof",
        "InvalidInput",
        "InvalidRequest",
        "InvalidToken",
        "OAuthError",
        "RegistrationError",
        "ResourceMetadataError",
        "ServerMetadataError",
        "ServerRefusedError",
        "StaleWriteError",
        "StepUpLimitError",
        "StoreError",
        "StoreKeyError",
        "StoreUnavailableError",
        "URLPolicyError",
        "UseDPoPNonce",
        "ZeroAuthError",
    ],
}

# Public methods of the client adapters, beyond httpx's Auth interface.
CLIENT_METHODS = ("token", "atoken", "logout", "alogout")

# Adapters importing an optional dependency: skipped when it is not installed.
OPTIONAL: dict[str, tuple[str, list[str]]] = {
    "zeroauth.integrations.mcp_sdk": (
        "mcp",
        ["ZeroAuthServerMiddleware", "protect", "tool_resolver"],
    ),
    "zeroauth.integrations.fastmcp": (
        "fastmcp",
        ["ToolScopeCache", "ZeroAuthMiddleware", "protect", "resolve_tool", "wire_version"],
    ),
}


def _resolves(package: ModuleType, name: str) -> bool:
    """``name`` is an attribute of ``package`` or, for a package, one of its submodules."""
    if hasattr(package, name):
        return True
    if hasattr(package, "__path__"):
        return importlib.util.find_spec(f"{package.__name__}.{name}") is not None
    return False


def _check(package: ModuleType, expected: list[str]) -> None:
    assert sorted(package.__all__) == sorted(expected), package.__name__
    assert len(set(package.__all__)) == len(package.__all__), f"{package.__name__}: duplicates"
    unresolved = [name for name in package.__all__ if not _resolves(package, name)]
    assert not unresolved, f"{package.__name__}.__all__ names that do not resolve: {unresolved}"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_names_are_pinned(name: str) -> None:
    _check(importlib.import_module(name), PUBLIC[name])


@pytest.mark.parametrize("name", sorted(OPTIONAL))
def test_integration_public_names_are_pinned(name: str) -> None:
    dependency, expected = OPTIONAL[name]
    pytest.importorskip(dependency)
    _check(importlib.import_module(name), expected)


def test_core_lists_every_public_submodule() -> None:
    """``zeroauth.core.__all__`` names its public submodules, each importable, and no others."""
    core = importlib.import_module("zeroauth.core")
    found = sorted(
        m.name for m in pkgutil.iter_modules(core.__path__) if not m.name.startswith("_")
    )
    assert found == sorted(core.__all__)
    for name in core.__all__:
        importlib.import_module(f"zeroauth.core.{name}")


@pytest.mark.parametrize("adapter", ["ZeroAuth", "ZeroAuthHttpx"])
def test_client_adapter_methods_are_pinned(adapter: str) -> None:
    """``token``/``atoken`` and ``logout``/``alogout`` (RFC 7009 revocation, then forgetting)."""
    import inspect

    cls = getattr(importlib.import_module("zeroauth.client"), adapter)
    for name in CLIENT_METHODS:
        method = getattr(cls, name, None)
        assert callable(method), f"{adapter}.{name}"
        params = list(inspect.signature(method).parameters)
        assert params == ["self", "url"], f"{adapter}.{name}{params}"
    assert inspect.iscoroutinefunction(cls.atoken)
    assert inspect.iscoroutinefunction(cls.alogout)
