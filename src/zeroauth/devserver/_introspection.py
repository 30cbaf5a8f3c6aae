"""Token introspection at the dev authorization server (RFC 7662).

``POST /introspect`` (§2.1) answers authenticated callers only: a confidential client
(``client_secret_basic`` or ``client_secret_post``, as at the token endpoint); a public client
or none gets 401 ``invalid_client``. Who may learn what (§4):

- a resource server, authenticating as the ``introspection_client`` of a ``ProtectedResource``,
  learns about access tokens whose ``aud`` is that resource, and nothing else;
- a client learns about tokens issued to itself.

Anything else — unknown, expired, revoked (the token, or its grant: a revoked refresh family
takes its access tokens with it), a rotated refresh token, a token for another audience or of
another client — is ``{"active": false}`` and nothing more (§2.2). An active answer carries
``iss``, ``sub``, ``client_id``, ``aud``, ``scope``, ``exp``, ``iat``, ``jti`` and
``token_type``. Bad input as at the token endpoint (SECURITY D8, D9). ``Cache-Control:
no-store`` on every answer.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zeroauth.devserver._body import NO_STORE, OAuthError, read_form
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._keys import SigningKey
from zeroauth.devserver._revocation import FoundToken, find_token
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._token import TokenEndpoint

__all__ = ["INTROSPECTION_AUTH_METHODS", "IntrospectionEndpoint"]

INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_INACTIVE = {"active": False}


class IntrospectionEndpoint:
    """``POST /introspect`` (RFC 7662 §2)."""

    def __init__(
        self,
        config: DevServerConfig,
        store: DevStore,
        key: SigningKey,
        token_endpoint: TokenEndpoint,
    ) -> None:
        self._config = config
        self._store = store
        self._key = key
        self._token = token_endpoint
        for res in config.resources:
            if res.introspection_client is not None:
                self._check_caller(res.resource, res.introspection_client)

    def _check_caller(self, resource: str, client_id: str) -> None:
        caller = self._config.find_client(client_id)
        if caller is None or caller.client_secret is None:
            raise ValueError(
                f"protected resource {resource!r}: introspection_client {client_id!r} must be "
                "a pre-registered client with a client_secret (RFC 7662 §2.1: the caller "
                "authenticates)"
            )

    def _audiences(self, caller: str) -> set[str] | None:
        """The resources ``caller`` introspects for, or None when it is no resource server.
        Read per request: resources may be added after the server starts (tests, demo)."""
        found = {r.resource for r in self._config.resources if r.introspection_client == caller}
        return found or None

    async def handle(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            caller = await self._token.authenticate(request, params)
            if caller.auth_method not in INTROSPECTION_AUTH_METHODS:
                raise OAuthError(
                    "invalid_client",
                    "introspection is for authenticated callers: a confidential client "
                    "(RFC 7662 §2.1)",
                    401,
                )
            token = params.get("token")
            if not token:
                raise OAuthError("invalid_request", "token is required (RFC 7662 §2.1)")
        except OAuthError as err:
            return err.response(NO_STORE)
        found = find_token(self._store, self._key, token, params.get("token_type_hint"))
        answer = self._answer(found, caller.client_id)
        return JSONResponse(answer or _INACTIVE, headers=NO_STORE)

    def _answer(self, found: FoundToken | None, caller: str) -> dict[str, Any] | None:
        if found is None or found.revoked or found.expires <= time.time():
            return None
        audiences = self._audiences(caller)
        if audiences is not None:  # a resource server: its own audience's access tokens only
            aud = (found.claims or {}).get("aud")
            if found.kind != "access_token" or aud not in audiences:
                return None
        elif found.client_id != caller:  # a client: its own tokens only (§4)
            return None
        if found.kind == "access_token":
            claims = dict(found.claims or {})
            names = ("iss", "sub", "client_id", "aud", "scope", "exp", "iat", "jti")
            answer = {name: claims[name] for name in names if name in claims}
            return {"active": True, **answer, "token_type": "Bearer"}
        data = found.data or {}
        scopes = data.get("scopes") or []
        answer = {
            "active": True,
            "iss": self._config.issuer,
            "sub": str(data.get("subject")),
            "client_id": found.client_id,
            "exp": int(found.expires),
            "token_type": "refresh_token",
        }
        if data.get("resource"):
            answer["aud"] = data["resource"]
        if scopes:
            answer["scope"] = " ".join(scopes)
        return answer
