"""The token endpoint of the dev authorization server (OAuth 2.1 §3.2, §4.1.3, §4.3, §4.2).

- Client authentication: ``none`` (public clients, CIMD), ``client_secret_basic`` (RFC 6749
  §2.3.1: id and secret form-urlencoded, then base64) and ``client_secret_post``.
- ``authorization_code``: the code is single use; a replay revokes the grant it issued
  (SECURITY D1); PKCE S256 verifier checked (D2); ``redirect_uri`` and ``resource`` must match
  the authorization request (RFC 8707 §2.2).
- ``refresh_token``: rotated on every use; a rotated token presented again revokes the whole
  family (D5).
- ``client_credentials`` (RFC 6749 §4.4) only for confidential clients pre-registered for it,
  and only within their configured scopes (no scope asked: exactly those); any other client gets
  ``unauthorized_client`` (§5.2), a scope beyond them ``invalid_scope`` (SECURITY D7).
- The form is read through the bounded reader (413 past 64 KiB, D8); malformed credentials or
  a ``client_id`` that does not parse are ``invalid_client``, never a 500 (D9).
Every answer carries ``Cache-Control: no-store`` (OAuth 2.1 §3.2.3).
"""

from __future__ import annotations

import base64
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zeroauth.core.dpop import DPoPProof, validate_proof
from zeroauth.core.errors import InvalidDPoPProof, StoreError, UseDPoPNonce, ZeroAuthError
from zeroauth.core.pkce import verify_s256
from zeroauth.devserver._body import NO_STORE, OAuthError, read_form
from zeroauth.devserver._clients import Client, ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._keys import SigningKey
from zeroauth.devserver._store import DevStore, RefreshRecord
from zeroauth.server._dpop import NonceSource, _replay_key

__all__ = ["GrantHandler", "TokenEndpoint"]

_request_jkt: ContextVar[str | None] = ContextVar("zeroauth_dev_as_proof_key", default=None)
"""The DPoP key thumbprint proven by the token request being served (RFC 9449 §5)."""

GrantHandler = Callable[[Client, Mapping[str, str]], dict[str, Any] | Awaitable[dict[str, Any]]]
"""A grant: the authenticated client and the form → the token response body (or an awaitable
of it: a grant that asks another server first, as the bridge's refresh does)."""


class StoreReplayCache:
    """DPoP proofs already used at the token endpoint (RFC 9449 §11.1), kept in the dev AS's
    store: replicas sharing it refuse a proof replayed to any of them."""

    def __init__(self, store: DevStore) -> None:
        self._store = store

    def seen(self, proof: DPoPProof, *, now: float, ttl: float) -> bool:
        return not self._store.spend(f"dpop {_replay_key(proof).hex()}", now + ttl)


class TokenEndpoint:
    """``POST /token``: client authentication, then one of the three grants (or one plugged in
    through ``grants``: the RFC 8628 device code)."""

    def __init__(
        self, config: DevServerConfig, store: DevStore, clients: ClientResolver, key: SigningKey
    ) -> None:
        self._config = config
        self._store = store
        self._clients = clients
        self._key = key
        self._url = f"{config.issuer.rstrip('/')}/token"  # the htu of token-request proofs
        self._replay = StoreReplayCache(store)  # shared by replicas sharing the store
        self._nonces = NonceSource(store.shared_secret("dpop-nonce")) if config.dpop_nonce else None
        self.grants: dict[str, GrantHandler] = {
            "authorization_code": self._code_grant,
            "refresh_token": self._refresh_grant,
            "client_credentials": self._client_credentials_grant,
        }

    async def handle(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            client = await self.authenticate(request, params)
            grant_type = params.get("grant_type")
            grant = self.grants.get(grant_type or "")
            if grant is None:
                raise OAuthError(
                    "unsupported_grant_type", f"grant_type {grant_type!r} not supported"
                )
            bound = _request_jkt.set(self._proof_key(request.headers.getlist("dpop")))
            try:
                answer = grant(client, params)
                body = await answer if inspect.isawaitable(answer) else answer
            finally:
                _request_jkt.reset(bound)
        except OAuthError as err:
            return err.response(NO_STORE)
        return JSONResponse(body, headers=NO_STORE)

    def _proof_key(self, proofs: list[str]) -> str | None:
        """RFC 9449 §5: the thumbprint of the key a token request proves possession of (the
        tokens it gets are bound to it), or None without a ``DPoP`` header; a bad or replayed
        proof is ``invalid_dpop_proof`` (400 at an AS)."""
        if not proofs or not self._config.dpop:
            return None  # an AS without DPoP ignores the header (RFC 9449 §5)
        now = time.time()
        nonces = self._nonces
        try:
            proof = validate_proof(proofs, method="POST", url=self._url, now=now,
                                   nonce=nonces.valid if nonces else None)  # fmt: skip
            if self._replay.seen(proof, now=now, ttl=420):
                raise InvalidDPoPProof("the DPoP proof was already used (replay)")
        except UseDPoPNonce as exc:  # RFC 9449 §8: 400 use_dpop_nonce with a fresh nonce
            assert nonces is not None  # a nonce is only demanded when configured
            raise _UseNonceError(
                exc.description or "a DPoP nonce is required", nonces.current()
            ) from None
        except InvalidDPoPProof as exc:
            raise OAuthError("invalid_dpop_proof", exc.description or "bad DPoP proof") from None
        return proof.jkt

    async def authenticate(self, request: Request, params: Mapping[str, str]) -> Client:
        """Client authentication, also for the revocation, introspection and device endpoints;
        raises ``OAuthError`` (``invalid_client``, 401)."""
        header = request.headers.get("authorization", "")
        client_id, secret, method = params.get("client_id"), params.get("client_secret"), "none"
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except ValueError as exc:  # binascii.Error, UnicodeDecodeError, non-ASCII text (D9)
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise OAuthError("invalid_client", "malformed Basic credentials", 401)
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            method = "client_secret_basic"
        elif secret is not None:
            method = "client_secret_post"
        if not client_id:
            raise OAuthError("invalid_client", "client authentication failed", 401)
        try:
            client = await self._clients.resolve(client_id)
        except StoreError:
            raise  # the shared state is unreachable: 503 (the app's handler), not "unknown"
        except (ZeroAuthError, ValueError) as exc:  # ValueError: a client_id URL that won't parse
            raise OAuthError("invalid_client", "unknown client", 401) from exc
        registered = client.auth_method
        if registered not in self._config.token_endpoint_auth_methods:
            raise OAuthError("invalid_client", f"{registered} is not accepted here", 401)
        if registered == "none":
            if method != "none":
                raise OAuthError("invalid_client", "public client must not send a secret", 401)
        elif method != registered or not client.check_secret(secret):
            raise OAuthError("invalid_client", f"client authentication failed ({registered})", 401)
        return client

    def _code_grant(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        code = params.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        record = self._store.use_code(code)
        if record is None:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if record.used:
            self._store.revoke_grant(record.grant_id)  # D1: replay revokes what the code issued
            raise OAuthError("invalid_grant", "authorization code was already used; grant revoked")
        data = record.data
        if record.expires < time.time():
            raise OAuthError("invalid_grant", "authorization code expired")
        if data["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "code was issued to another client")
        if params.get("redirect_uri") != data["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = params.get("code_verifier")
        if not verifier or not verify_s256(verifier, str(data["code_challenge"])):
            raise OAuthError("invalid_grant", "PKCE verification failed")
        _check_resource(params, data.get("resource"))
        return self.issue(client, record.grant_id, data, refresh=True)

    def live_refresh(self, client: Client, token: str | None) -> RefreshRecord | None:
        """The record of ``token`` when this request's ``refresh_token`` grant would accept it
        (known, not rotated, not revoked, unexpired, ``client``'s, its DPoP key), else None;
        nothing is rotated or revoked here (a wrapper's look before the grant runs)."""
        record = self._store.refresh_record(token) if token else None
        if (
            record is None
            or record.rotated
            or record.expires < time.time()
            or record.data.get("client_id") != client.client_id
            or record.data.get("jkt") not in (None, _request_jkt.get())  # RFC 9449 §5
            or self._store.grant_revoked(record.grant_id)
        ):
            return None
        return record

    def _refresh_grant(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        token = params.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required")
        record = self._store.rotate_refresh(token)
        if record is None or self._store.grant_revoked(record.grant_id):
            raise OAuthError("invalid_grant", "unknown or revoked refresh token")
        if record.rotated:
            self._store.revoke_grant(record.grant_id)  # D5: reuse of a rotated token
            raise OAuthError("invalid_grant", "refresh token was already used; grant revoked")
        data = dict(record.data)
        if data["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        if data.get("jkt") is not None and data["jkt"] != _request_jkt.get():
            # RFC 9449 §5: a public client's refresh token is bound to its DPoP key
            raise OAuthError("invalid_dpop_proof", "the refresh token is bound to another key")
        if record.expires < time.time():
            raise OAuthError("invalid_grant", "refresh token expired")
        _check_resource(params, data.get("resource"))
        if "scope" in params:
            asked = params["scope"].split()
            if not set(asked) <= set(data["scopes"]):
                raise OAuthError("invalid_scope", "refresh may not widen the granted scope")
            data["scopes"] = asked
        return self.issue(client, record.grant_id, data, refresh=True)

    def _client_credentials_grant(
        self, client: Client, params: Mapping[str, str]
    ) -> dict[str, Any]:
        configured = self._config.find_client(client.client_id)
        if configured is None:  # dynamically registered or CIMD: no machine access (SECURITY D7)
            raise OAuthError(
                "unauthorized_client",
                "client_credentials is only for clients pre-registered for it by the operator "
                "(DevServerConfig.clients, zeroauth dev-as --clients FILE); this client is not",
            )
        if not configured.machine or client.auth_method == "none":
            raise OAuthError("unauthorized_client", "client may not use client_credentials")
        resource = params.get("resource")
        if resource is not None and self._config.find_resource(resource) is None:
            raise OAuthError("invalid_target", self._config.unknown_resource(resource))
        data = {
            "client_id": client.client_id,
            "subject": client.client_id,
            "resource": resource,
            "scopes": _machine_scopes(configured.scopes, params.get("scope")),
        }
        return self.issue(client, secrets.token_urlsafe(16), data, refresh=False)

    def issue(
        self, client: Client, grant_id: str, data: Mapping[str, Any], *, refresh: bool
    ) -> dict[str, Any]:
        """Tokens for an approved grant, as the built-in grants issue them; DPoP-bound (RFC 9449
        §5, ``cnf.jkt``, ``token_type`` DPoP) when the request proved possession of a key, and a
        public client's refresh token then bound to the same key."""
        config = self._config
        jkt = _request_jkt.get()
        if jkt is not None and client.auth_method == "none":
            data = {**data, "jkt": jkt}
        scopes = [s for s in data["scopes"] if s != "offline_access"]
        jti = secrets.token_urlsafe(16)  # recorded: revocation and introspection find it by jti
        self._store.add_access(
            jti, grant_id, client.client_id, time.time() + config.access_token_lifetime
        )
        access = self._key.mint_access_token(
            issuer=config.issuer,
            subject=str(data["subject"]),
            client_id=client.client_id,
            audience=data.get("resource"),
            scopes=scopes,
            lifetime=config.access_token_lifetime,
            jti=jti,
            act=data.get("act"),
            cnf={"jkt": jkt} if jkt is not None else None,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "DPoP" if jkt is not None else "Bearer",
            "expires_in": config.access_token_lifetime,
        }
        if data["scopes"]:
            body["scope"] = " ".join(data["scopes"])
        if refresh and "refresh_token" in client.metadata.get("grant_types", ()):
            new_refresh = secrets.token_urlsafe(32)
            self._store.add_refresh(
                new_refresh, grant_id, data, time.time() + config.refresh_token_lifetime
            )
            body["refresh_token"] = new_refresh
        return body


class _UseNonceError(OAuthError):
    """RFC 9449 §8: ``use_dpop_nonce`` (400) carrying the nonce to use in a ``DPoP-Nonce``."""

    def __init__(self, description: str, nonce: str) -> None:
        super().__init__("use_dpop_nonce", description)
        self._nonce = nonce

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "DPoP-Nonce": self._nonce}


def _machine_scopes(allowed: tuple[str, ...], asked: str | None) -> list[str]:
    """RFC 6749 §3.3: the configured scopes when none are asked, else a subset of them."""
    if not asked or not asked.split():
        return list(allowed)
    beyond = [s for s in asked.split() if s not in allowed]
    if beyond:
        raise OAuthError(
            "invalid_scope",
            f"scope {' '.join(beyond)[:200]!r} is beyond what this client is configured for "
            f"({' '.join(allowed) or 'no scopes'})",
        )
    return asked.split()


def _check_resource(params: Mapping[str, str], granted: object) -> None:
    """RFC 8707 §2.2: the token request's ``resource`` must be one that was authorized."""
    asked = params.get("resource")
    if asked is not None and asked != granted:
        raise OAuthError("invalid_target", "resource differs from the authorization request")
