"""Resource-server side: ASGI middleware, Protected Resource Metadata, token verification,
DPoP (sender-constrained tokens), actor policy for exchanged tokens."""

from zeroauth.server._actors import RequireActor
from zeroauth.server._dpop import DPoP, MemoryReplayCache, RedisReplayCache, ReplayCache
from zeroauth.server._introspection import IntrospectionVerifier
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._metadata import (
    ProtectedResourceMetadataApp,
    build_resource_metadata,
    protected_resource_routes,
)
from zeroauth.server._middleware import (
    TOKEN_SCOPE_KEY,
    BearerAuth,
    current_caller_token,
    current_token,
)
from zeroauth.server._scopes import ScopePolicy, requires_scopes
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = [
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
]
