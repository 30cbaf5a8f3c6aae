"""The dev authorization server as a Starlette app: metadata (RFC 8414 and OpenID Connect
Discovery 1.0), JWKS (RFC 7517), dynamic client registration (RFC 7591, with
``application_type``), and the authorization and token endpoints.

For an issuer with a path (``https://host/realms/dev``) the endpoints live under that path and
the metadata is served at every well-known form a client may try (RFC 8414 §3.1 inserted, OpenID
inserted and appended), so the server answers the MCP discovery order wherever it starts.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zeroauth.core.errors import URLPolicyError
from zeroauth.core.urls import check_redirect_uri
from zeroauth.devserver.authorize import authorize_endpoint, decision_endpoint
from zeroauth.devserver.clients import ClientResolver
from zeroauth.devserver.config import DevServerConfig
from zeroauth.devserver.keys import SigningKey
from zeroauth.devserver.store import DevStore
from zeroauth.devserver.token import token_endpoint

__all__ = ["DevAuthorizationServer"]

_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_MAX_REGISTRATION = 32 * 1024


class DevAuthorizationServer:
    """An OAuth 2.1 authorization server for development, demos and tests."""

    def __init__(self, config: DevServerConfig, store: DevStore | None = None) -> None:
        self.config = config
        self.store = store if store is not None else DevStore(config.database)
        self.key = SigningKey(self.store, config.alg)
        self.clients = ClientResolver(
            self.store,
            allow_loopback=config.allow_loopback_cimd,
            allow_private=config.allow_private_cimd,
        )
        self.csrf_secret = secrets.token_bytes(32)
        for client in config.clients:
            self.store.add_client(client.client_id, client.metadata(), client.client_secret)
        self._base = config.issuer.rstrip("/")
        self._path = urlsplit(self._base).path

    def endpoint(self, name: str) -> str:
        return f"{self._base}/{name}"

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 §2 metadata (also valid as OpenID Connect Discovery §3 metadata)."""
        return {
            "issuer": self.config.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "registration_endpoint": self.endpoint("register"),
            "jwks_uri": self.endpoint("jwks"),
            "scopes_supported": list(self.config.scopes_supported),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(_GRANT_TYPES),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(self.config.token_endpoint_auth_methods),
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.config.alg],
        }

    def app(self) -> Starlette:
        p = self._path
        well_known = {
            f"/.well-known/oauth-authorization-server{p}",
            f"/.well-known/openid-configuration{p}",
            f"{p}/.well-known/openid-configuration",
            f"{p}/.well-known/oauth-authorization-server",
        }
        routes = [Route(path, _metadata_endpoint, methods=["GET"]) for path in sorted(well_known)]
        routes += [
            Route(f"{p}/jwks", _jwks_endpoint, methods=["GET"]),
            Route(f"{p}/register", _registration_endpoint, methods=["POST"]),
            Route(f"{p}/authorize", authorize_endpoint, methods=["GET"]),
            Route(f"{p}/authorize/decision", decision_endpoint, methods=["POST"]),
            Route(f"{p}/token", token_endpoint, methods=["POST"]),
        ]
        app = Starlette(routes=routes)
        app.state.devserver = self
        return app


def _server(request: Request) -> DevAuthorizationServer:
    server: DevAuthorizationServer = request.app.state.devserver
    return server


async def _metadata_endpoint(request: Request) -> Response:
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return JSONResponse(_server(request).metadata(), headers=headers)


async def _jwks_endpoint(request: Request) -> Response:
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return JSONResponse(_server(request).key.jwks(), headers=headers)


def _registration_error(description: str, error: str = "invalid_client_metadata") -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


async def _registration_endpoint(request: Request) -> Response:
    """RFC 7591 §3: open registration of public (``none``) and confidential clients."""
    body = await request.body()
    if len(body) > _MAX_REGISTRATION:
        return _registration_error("registration request too large")
    try:
        meta = json.loads(body)
    except ValueError:
        return _registration_error("request body is not JSON")
    if not isinstance(meta, dict):
        return _registration_error("request body must be a JSON object")
    redirect_uris = meta.get("redirect_uris", [])
    if not isinstance(redirect_uris, list) or not all(isinstance(u, str) for u in redirect_uris):
        return _registration_error("redirect_uris must be strings", "invalid_redirect_uri")
    grant_types = meta.setdefault("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grant_types, list) or not set(grant_types) <= set(_GRANT_TYPES):
        return _registration_error(f"grant_types must be a subset of {list(_GRANT_TYPES)}")
    if "authorization_code" in grant_types and not redirect_uris:
        return _registration_error("redirect_uris required", "invalid_redirect_uri")
    for uri in redirect_uris:
        try:
            check_redirect_uri(uri)
        except URLPolicyError as exc:
            return _registration_error(str(exc), "invalid_redirect_uri")
    methods = _server(request).config.token_endpoint_auth_methods
    method = meta.setdefault("token_endpoint_auth_method", "client_secret_basic")
    if method not in methods:
        return _registration_error(f"token_endpoint_auth_method must be in {list(methods)}")
    app_type = meta.setdefault("application_type", "web")
    if app_type not in ("native", "web"):
        return _registration_error("application_type must be 'native' or 'web'")
    meta.setdefault("response_types", ["code"])
    client_id = str(uuid.uuid4())
    secret = None if method == "none" else secrets.token_urlsafe(32)
    meta.update(client_id=client_id, client_id_issued_at=int(time.time()))
    _server(request).store.add_client(client_id, meta, secret)
    answer = dict(meta)
    if secret is not None:
        answer.update(client_secret=secret, client_secret_expires_at=0)
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})
