"""The dev authorization server as a Starlette app: metadata (RFC 8414 and OpenID Connect
Discovery 1.0), JWKS (RFC 7517), dynamic client registration (RFC 7591, with
``application_type``), the authorization and token endpoints, token revocation (RFC 7009,
``_revocation.py``), introspection (RFC 7662, ``_introspection.py``) and the device
authorization grant (RFC 8628, ``_device``), and CORS for browser-based clients on the
endpoints they call (Fetch Standard §3.2).

Dynamic registration is open, so it never grants ``client_credentials`` (RFC 6749 §4.4: a token
with no user behind it); machine clients are pre-registered by the operator (SECURITY D7). The
request body is bounded (413 past 32 KiB, D8) and metadata of the wrong shape is an RFC 7591
§3.2.2 error, never a crash (D9).

For an issuer with a path (``https://host/realms/dev``) the endpoints live under that path and
the metadata is served at every well-known form a client may try (RFC 8414 §3.1 inserted, OpenID
inserted and appended), so the server answers the MCP discovery order wherever it starts.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zeroauth.core.dpop import SUPPORTED_ALGS as DPOP_ALGS
from zeroauth.core.errors import StoreError, URLPolicyError
from zeroauth.core.urls import check_redirect_uri
from zeroauth.devserver._authorize import Authenticator, AuthorizationEndpoint
from zeroauth.devserver._body import OAuthError, read_json_object
from zeroauth.devserver._clients import ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._consent import ConsentForms
from zeroauth.devserver._device import DEVICE_CODE_GRANT, DeviceFlow
from zeroauth.devserver._exchange import TOKEN_EXCHANGE_GRANT, TokenExchange
from zeroauth.devserver._introspection import INTROSPECTION_AUTH_METHODS, IntrospectionEndpoint
from zeroauth.devserver._keys import RETAIN_MARGIN, SigningKey
from zeroauth.devserver._revocation import RevocationEndpoint
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._store_redis import open_store
from zeroauth.devserver._token import TokenEndpoint
from zeroauth.server._cors import CorsGate, CorsPolicy

__all__ = ["DevAuthorizationServer"]

_GRANT_TYPES = (
    "authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT,
    TOKEN_EXCHANGE_GRANT,
)  # fmt: skip
_DCR_GRANT_TYPES = ("authorization_code", "refresh_token", DEVICE_CODE_GRANT)  # never c_c (D7)
_PUBLIC_CACHE = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
_MACHINE_CLIENTS_HINT = (
    "client_credentials is not available to dynamically registered clients: a machine client "
    "has no user to consent, so it must be pre-registered by the operator of this server "
    '(DevServerConfig.clients with grant_types ["client_credentials"] and its scopes, or '
    "zeroauth dev-as --clients FILE)"
)


class DevAuthorizationServer:
    """An OAuth 2.1 authorization server for development, demos and tests.

    With an ``authenticator`` it is the core of another authorization server (the bridge): the
    user is authenticated by that hook instead of the local consent page, and the grants that
    authenticate a user elsewhere (RFC 8628 device verification page, RFC 8693 exchange) and
    the local consent decision endpoint are not offered.
    """

    def __init__(
        self,
        config: DevServerConfig,
        store: DevStore | None = None,
        *,
        authenticator: Authenticator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store if store is not None else open_store(config)
        rotation = config.key_rotation_days
        self.key = SigningKey(
            self.store,
            config.alg,
            rotation=None if rotation is None else rotation * 86400,
            retain=config.access_token_lifetime + RETAIN_MARGIN,
            clock=clock,  # the keys' rotation schedule (tests move it)
        )
        self.clients = ClientResolver(
            self.store,
            allow_loopback=config.allow_loopback_cimd,
            allow_private=config.allow_private_cimd,
            fetch_deadline=config.cimd_fetch_deadline,
        )
        for client in config.clients:
            self.store.add_client(client.client_id, client.metadata(), client.client_secret)
        self._base = config.issuer.rstrip("/")
        self._path = urlsplit(self._base).path
        consent = ConsentForms(
            action=self.endpoint("authorize/decision"), default_subject=config.default_subject,
            store=self.store,
        )  # fmt: skip
        self.authorization = AuthorizationEndpoint(
            config, self.store, self.clients, consent, authenticator
        )
        self._authorize = self.authorization
        self.token = TokenEndpoint(config, self.store, self.clients, self.key)
        self._token = self.token
        self._revocation = RevocationEndpoint(self.store, self.key, self._token)  # RFC 7009
        self._introspection = IntrospectionEndpoint(config, self.store, self.key, self._token)
        self._local = authenticator is None  # the user is authenticated here
        self._device: DeviceFlow | None = None
        if self._local:
            self._device = DeviceFlow(config, self.store, self.clients, self._token, self.endpoint)
            TokenExchange(config, self.store, self.key, self._token)  # RFC 8693, a token grant

    def endpoint(self, name: str) -> str:
        return f"{self._base}/{name}"

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 §2 metadata (also valid as OpenID Connect Discovery §3 metadata)."""
        methods = self.config.token_endpoint_auth_methods
        grant_types = [g for g in _GRANT_TYPES if g in self._token.grants]
        device = self._device
        return {
            "issuer": self.config.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "registration_endpoint": self.endpoint("register"),
            "jwks_uri": self.endpoint("jwks"),
            **({"device_authorization_endpoint": device.endpoint} if device else {}),  # RFC 8628
            "scopes_supported": list(self.config.scopes_supported),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grant_types,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(methods),
            "authorization_response_iss_parameter_supported": True,
            **({"dpop_signing_alg_values_supported": list(DPOP_ALGS)} if self.config.dpop else {}),
            "client_id_metadata_document_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.config.alg],
            "revocation_endpoint": self.endpoint("revoke"),  # RFC 7009, RFC 8414 §2
            "revocation_endpoint_auth_methods_supported": list(methods),
            "introspection_endpoint": self.endpoint("introspect"),  # RFC 7662
            "introspection_endpoint_auth_methods_supported": [
                m for m in methods if m in INTROSPECTION_AUTH_METHODS
            ],
        }

    def app(self) -> Starlette:
        p = self._path
        well_known = {
            f"/.well-known/oauth-authorization-server{p}",
            f"/.well-known/openid-configuration{p}",
            f"{p}/.well-known/openid-configuration",
            f"{p}/.well-known/oauth-authorization-server",
        }
        routes = [
            Route(path, self._metadata_endpoint, methods=["GET"]) for path in sorted(well_known)
        ]
        routes += [
            Route(f"{p}/jwks", self._jwks_endpoint, methods=["GET"]),
            Route(f"{p}/register", self._registration_endpoint, methods=["POST"]),
            Route(f"{p}/authorize", self._authorize.authorize, methods=["GET"]),
            Route(f"{p}/token", self._token.handle, methods=["POST"]),
            Route(f"{p}/revoke", self._revocation.handle, methods=["POST"]),
            Route(f"{p}/introspect", self._introspection.handle, methods=["POST"]),
        ]
        if self._device is not None:  # the local consent and RFC 8628's verification pages
            routes.append(
                Route(f"{p}/authorize/decision", self._authorize.decision, methods=["POST"])
            )
            routes += self._device.routes(p)
        return Starlette(
            routes=routes,
            middleware=[self._browser_cors(well_known)],
            exception_handlers={StoreError: _store_down},
        )

    def _browser_cors(self, well_known: set[str]) -> Middleware:
        """CORS (Fetch Standard §3.2) on what a browser-based client calls: metadata, JWKS,
        registration, token and revocation endpoints answer preflights, from any origin (no
        cookies are involved there; the authorization endpoint is a navigation, not a fetch)."""
        p = self._path
        paths = {*well_known, f"{p}/jwks", f"{p}/register", f"{p}/token", f"{p}/revoke"}
        policy = CorsPolicy(
            ["*"],
            methods=("GET", "POST", "OPTIONS"),
            request_headers=("Authorization", "Content-Type", "DPoP", "Mcp-Protocol-Version"),
            expose_headers=("WWW-Authenticate", "DPoP-Nonce"),
        )
        return Middleware(CorsGate, policy=policy, paths=paths)

    async def _metadata_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.metadata(), headers=_PUBLIC_CACHE)

    async def _jwks_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.key.jwks(), headers=_PUBLIC_CACHE)

    async def _registration_endpoint(self, request: Request) -> Response:
        """RFC 7591 §3: open registration of public (``none``) and confidential clients."""
        try:
            meta = await read_json_object(request, error="invalid_client_metadata")
            _check_metadata(meta, self.config.token_endpoint_auth_methods)
        except OAuthError as err:  # a refused body, or metadata of the wrong shape
            return err.response()
        client_id = str(uuid.uuid4())
        method = meta["token_endpoint_auth_method"]
        secret = None if method == "none" else secrets.token_urlsafe(32)
        meta.update(client_id=client_id, client_id_issued_at=int(time.time()))
        self.store.add_client(client_id, meta, secret)
        answer = dict(meta)
        if secret is not None:
            answer.update(client_secret=secret, client_secret_expires_at=0)
        return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


async def _store_down(request: Request, exc: Exception) -> Response:
    """The shared state store (Redis) failed: 503 ``temporarily_unavailable`` (RFC 6749
    §4.1.2.1) naming it, never a bare 500; nothing was issued."""
    where = exc.where if isinstance(exc, StoreError) else None
    body = {
        "error": "temporarily_unavailable",
        "error_description": f"the authorization server's state store ({where}) failed "
        f"({type(exc).__name__}); retry later",
    }
    return JSONResponse(body, status_code=503, headers={"Cache-Control": "no-store",
                                                        "Retry-After": "5"})  # fmt: skip


class _MetadataError(OAuthError):
    """RFC 7591 §3.2.2: ``invalid_client_metadata`` or ``invalid_redirect_uri``."""

    def __init__(self, description: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(error, description)


def _strings(meta: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = meta.setdefault(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        error = "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata"
        raise _MetadataError(f"{name} must be a list of strings", error)
    return value


def _choice(meta: dict[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = meta.setdefault(name, default)
    if not isinstance(value, str) or value not in allowed:
        raise _MetadataError(f"{name} must be one of {list(allowed)}")
    return value


def _check_metadata(meta: dict[str, Any], auth_methods: tuple[str, ...]) -> None:
    """RFC 7591 §2 field by field; defaults filled in as §3.2.1 returns them."""
    redirect_uris = _strings(meta, "redirect_uris", [])
    grant_types = _strings(meta, "grant_types", ["authorization_code", "refresh_token"])
    if "client_credentials" in grant_types:
        raise _MetadataError(_MACHINE_CLIENTS_HINT)  # SECURITY D7
    if not set(grant_types) <= set(_DCR_GRANT_TYPES):
        raise _MetadataError(f"grant_types must be a subset of {list(_DCR_GRANT_TYPES)}")
    if "authorization_code" in grant_types and not redirect_uris:
        raise _MetadataError("redirect_uris required", "invalid_redirect_uri")
    for uri in redirect_uris:
        try:
            check_redirect_uri(uri)
        except URLPolicyError as exc:
            raise _MetadataError(str(exc), "invalid_redirect_uri") from exc
    _choice(meta, "token_endpoint_auth_method", "client_secret_basic", auth_methods)
    _choice(meta, "application_type", "web", ("native", "web"))
    _strings(meta, "response_types", ["code"])
