"""Token exchange (RFC 8693) at the dev authorization server: a service (a gateway, an MCP
server calling a downstream API) trades the access token it received for one bound to the next
hop, on the user's behalf.

Policy, per pre-registered confidential client with the token-exchange grant:
- the subject token (``subject_token_type`` access_token, §3) must be an active access token of
  this server whose ``aud`` is a resource the client serves (``acts_for``): a client exchanges
  only tokens minted for it, never one it merely saw;
- the target (``resource`` or ``audience``, §2.1; one of them, one value) must be a protected
  resource of this server listed in the client's ``exchange_to`` (else ``invalid_target``);
- scopes only narrow: the result carries the requested scopes (default: all) of the subject
  token's scopes that the target resource defines; asking for more is ``invalid_scope``;
- the new token names the exchanging client in ``act``, nesting the subject token's own ``act``
  (§4.1: a chain of hops), keeps the user as ``sub``, belongs to the subject token's grant (so
  revoking the user's grant revokes it too) and comes without a refresh token;
- ``actor_token`` and other ``requested_token_type`` values are refused (``invalid_request``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from zeroauth.devserver._body import OAuthError
from zeroauth.devserver._clients import Client
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._keys import SigningKey
from zeroauth.devserver._revocation import find_token
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._token import TokenEndpoint

__all__ = ["ACCESS_TOKEN_TYPE", "TOKEN_EXCHANGE_GRANT", "TokenExchange"]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class TokenExchange:
    """The token-exchange grant of one dev AS, plugged into its token endpoint."""

    def __init__(
        self, config: DevServerConfig, store: DevStore, key: SigningKey, token: TokenEndpoint
    ) -> None:
        self._config, self._store, self._key, self._token = config, store, key, token
        token.grants[TOKEN_EXCHANGE_GRANT] = self._exchange

    def _exchange(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        policy = self._config.find_client(client.client_id)
        if (
            policy is None
            or TOKEN_EXCHANGE_GRANT not in policy.grant_types
            or client.auth_method == "none"
        ):
            raise OAuthError(
                "unauthorized_client",
                "token exchange is for pre-registered confidential clients with the "
                "token-exchange grant",
            )
        if params.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        if "actor_token" in params:
            raise OAuthError("invalid_request", "actor tokens are not supported here")
        if params.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", "only access tokens are issued by exchange")
        subject = find_token(
            self._store, self._key, params.get("subject_token", ""), "access_token"
        )
        if subject is None or subject.kind != "access_token" or subject.revoked:
            raise OAuthError("invalid_grant", "the subject token is not an active access token")
        claims = subject.claims or {}
        if subject.expires <= time.time():
            raise OAuthError("invalid_grant", "the subject token has expired")
        if claims.get("aud") not in policy.acts_for:
            raise OAuthError(
                "invalid_grant", "the subject token was not issued to a resource this client serves"
            )
        target = _target(params)
        resource = self._config.find_resource(target)
        if resource is None or target not in policy.exchange_to:
            raise OAuthError(
                "invalid_target", f"this client may not obtain tokens for {target[:200]!r}"
            )
        held = str(claims.get("scope", "")).split()
        allowed = [s for s in held if not resource.scopes or s in resource.scopes]
        asked = params.get("scope", "").split()
        beyond = [s for s in asked if s not in allowed]
        if beyond:
            raise OAuthError(
                "invalid_scope",
                f"scope {' '.join(beyond)[:200]!r} is beyond the subject token's for this "
                "resource (scopes only narrow in an exchange)",
            )
        act: dict[str, Any] = {"sub": client.client_id}  # RFC 8693 §4.1: the current actor
        if isinstance(claims.get("act"), Mapping):
            act["act"] = claims["act"]  # ...and the chain before it
        data = {"client_id": client.client_id, "subject": claims.get("sub"), "resource": target,
                "scopes": asked or allowed, "act": act}  # fmt: skip
        body = self._token.issue(client, subject.grant_id, data, refresh=False)
        return {**body, "issued_token_type": ACCESS_TOKEN_TYPE}


def _target(params: Mapping[str, str]) -> str:
    """The one target of the exchange: ``resource`` (RFC 8707) or ``audience`` (RFC 8693)."""
    resource, audience = params.get("resource"), params.get("audience")
    if resource and audience and resource != audience:
        raise OAuthError("invalid_target", "resource and audience name different targets")
    target = resource or audience
    if not target:
        raise OAuthError("invalid_request", "name the target with resource or audience")
    return target
