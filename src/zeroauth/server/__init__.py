"""Resource-server side: ASGI middleware, Protected Resource Metadata, token verification."""

from zeroauth.server.introspection import IntrospectionVerifier
from zeroauth.server.jwks import JWKSCache
from zeroauth.server.jwt import JWTVerifier
from zeroauth.server.metadata import (
    ProtectedResourceMetadataApp,
    build_resource_metadata,
    protected_resource_routes,
)
from zeroauth.server.middleware import TOKEN_SCOPE_KEY, BearerAuth, current_token
from zeroauth.server.scopes import ScopePolicy, requires_scopes
from zeroauth.server.verifier import AccessToken, TokenVerifier

__all__ = [
    "TOKEN_SCOPE_KEY",
    "AccessToken",
    "BearerAuth",
    "IntrospectionVerifier",
    "JWKSCache",
    "JWTVerifier",
    "ProtectedResourceMetadataApp",
    "ScopePolicy",
    "TokenVerifier",
    "build_resource_metadata",
    "current_token",
    "protected_resource_routes",
    "requires_scopes",
]
