"""Token revocation at the dev authorization server (RFC 7009), and the token lookup it shares
with introspection (RFC 7662, ``_introspection.py``).

``POST /revoke`` (§2.1): the client authenticates exactly as at the token endpoint (public
clients send ``client_id``); ``token`` is required, ``token_type_hint`` only says where to look
first (an unknown hint is ignored, §2.1). Revoking a refresh token revokes its whole grant: every
refresh token of the family and every access token issued from it (§2.1 "SHOULD"; the family of
OAuth 2.1 §4.3.1). Revoking an access token revokes that token only. An unknown, expired or
already revoked token, and a token issued to another client, all get HTTP 200 with no effect
(§2.2: the client cannot tell them apart, so nobody learns about other clients' tokens).

Bad input is refused like at the token endpoint: the body is bounded (413 past 64 KiB, SECURITY
D8) and a malformed form or credentials are ``invalid_request`` / ``invalid_client``, never a 500
(D9). Every answer carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from zeroauth.devserver._body import NO_STORE, OAuthError, read_form
from zeroauth.devserver._keys import SigningKey
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._token import TokenEndpoint

__all__ = ["FoundToken", "RevocationEndpoint", "find_token"]

Kind = Literal["access_token", "refresh_token"]


@dataclass(frozen=True, slots=True)
class FoundToken:
    """A token this server issued, as it stands now (never the token value)."""

    kind: Kind
    grant_id: str
    client_id: str
    expires: float
    revoked: bool  # revoked itself, its grant revoked, or (refresh) already rotated
    jti: str | None = None
    claims: dict[str, Any] | None = None  # access tokens: the verified JWT claims
    data: dict[str, Any] | None = None  # refresh tokens: the grant (subject, resource, scopes)


def _refresh(store: DevStore, token: str) -> FoundToken | None:
    record = store.refresh_record(token)
    if record is None:
        return None
    data = dict(record.data)
    revoked = record.rotated or store.grant_revoked(record.grant_id)
    return FoundToken(
        "refresh_token", record.grant_id, str(data.get("client_id")), record.expires, revoked,
        data=data,
    )  # fmt: skip


def _access(store: DevStore, key: SigningKey, token: str) -> FoundToken | None:
    if token.count(".") != 2:
        return None
    claims = key.verified_claims(token)
    jti = claims.get("jti") if claims else None
    if claims is None or not isinstance(jti, str):
        return None
    record = store.access_record(jti)
    if record is None:
        return None
    revoked = record.revoked or store.grant_revoked(record.grant_id)
    return FoundToken(
        "access_token", record.grant_id, record.client_id, record.expires, revoked,
        jti=jti, claims=claims,
    )  # fmt: skip


def find_token(store: DevStore, key: SigningKey, token: str, hint: str | None) -> FoundToken | None:
    """The token, looked up where ``hint`` says first, then everywhere (RFC 7009 §2.1)."""
    if hint == "access_token":
        return _access(store, key, token) or _refresh(store, token)
    return _refresh(store, token) or _access(store, key, token)


class RevocationEndpoint:
    """``POST /revoke`` (RFC 7009 §2)."""

    def __init__(self, store: DevStore, key: SigningKey, token_endpoint: TokenEndpoint) -> None:
        self._store = store
        self._key = key
        self._token = token_endpoint

    async def handle(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            client = await self._token.authenticate(request, params)
            token = params.get("token")
            if not token:
                raise OAuthError("invalid_request", "token is required (RFC 7009 §2.1)")
        except OAuthError as err:
            return err.response(NO_STORE)
        found = find_token(self._store, self._key, token, params.get("token_type_hint"))
        if found is not None and found.client_id == client.client_id:  # §2.1: its own tokens
            if found.kind == "refresh_token":
                self._store.revoke_grant(found.grant_id)  # the family and its access tokens
            elif found.jti is not None:
                self._store.revoke_access(found.jti)
        return Response(status_code=200, headers=NO_STORE)  # §2.2: whatever the token was
