"""Authorization and token requests and responses.

Implements OAuth 2.1 (draft-ietf-oauth-v2-1-13) §4.1.1 (authorization request with PKCE S256 and
``state``), §4.1.2 / §4.1.2.1 (authorization response and error response), §4.1.3 / §4.3 / §4.2
(authorization_code, refresh_token and client_credentials token requests); RFC 9207 §2.4
(``iss`` check before the code is redeemed: SPEC C-42, C-43); RFC 8707 §2.1 / §2.2 (``resource``
in every request: C-33, C-34); RFC 6749 §5.1 / §5.2 (token and error responses).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from zeroauth.core.client_auth import client_auth
from zeroauth.core.client_info import ClientInfo
from zeroauth.core.errors import (
    AuthorizationResponseError,
    InvalidInput,
    OAuthError,
    RegistrationError,
    ServerMetadataError,
)
from zeroauth.core.pkce import PKCE, generate_pkce
from zeroauth.core.scopes import is_scope_token
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet, clean_text, parse_oauth_error, parse_token_response
from zeroauth.core.urls import check_redirect_uri

__all__ = [
    "AuthorizationRequest",
    "TokenRequest",
    "TokenSet",
    "add_resource_scope",
    "authenticated_post",
    "build_authorization_request",
    "client_auth",
    "client_credentials_request",
    "code_token_request",
    "parse_authorization_response",
    "parse_oauth_error",
    "parse_token_response",
    "refresh_token_request",
    "token_endpoint_request",
]

_RESERVED = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "resource", "scope"}
)  # fmt: skip
_RESPONSE_PARAMS = ("code", "state", "iss", "error", "error_description", "error_uri")


# --- authorization request (C-32, C-33, C-37, C-41, C-42) -----------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """The per-request record of C-42: kept until the response comes back, then discarded."""

    url: str
    state: str
    pkce: PKCE
    issuer: str
    redirect_uri: str
    resource: str | None
    scope: tuple[str, ...] | None
    iss_supported: bool


def build_authorization_request(
    md: ServerMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    resource: str | None,
    scope: Iterable[str] | None,
    state: str | None = None,
    pkce: PKCE | None = None,
    extra: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """Authorization URL with ``state``, PKCE S256, ``resource`` and ``scope``, and its record."""
    endpoint = md.authorization_endpoint
    if not endpoint:
        raise ServerMetadataError(
            "AS metadata has no authorization_endpoint",
            requirement="C-13",
            where=md.issuer,
            expected="authorization_endpoint (RFC 8414 §2)",
        )
    if "#" in endpoint:
        raise ServerMetadataError(
            "authorization_endpoint has a fragment",
            requirement="C-13",
            where=endpoint,
            expected="no fragment (RFC 6749 §3.1)",
        )
    check_redirect_uri(redirect_uri)  # C-50
    scopes = _scope_tuple(scope)
    pkce = pkce or generate_pkce()
    state = state or secrets.token_urlsafe(32)
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    add_resource_scope(params, resource, scopes)  # C-33, C-37
    for name, value in (extra or {}).items():
        if name in _RESERVED:
            raise ValueError(f"extra authorization parameter {name!r} would override {name}")
        params[name] = value
    separator = "&" if urlsplit(endpoint).query else ("" if endpoint.endswith("?") else "?")
    return AuthorizationRequest(
        url=endpoint + separator + urlencode(params),
        state=state,
        pkce=pkce,
        issuer=md.issuer,
        redirect_uri=redirect_uri,
        resource=resource,
        scope=scopes,
        iss_supported=md.authorization_response_iss_parameter_supported,
    )


def parse_authorization_response(
    params: str | Mapping[str, str], request: AuthorizationRequest
) -> str:
    """Check ``state`` (C-41) and ``iss`` (C-43, RFC 9207 §2.4), then return the code.

    ``params`` is the callback query, or the whole redirect URL. An error response that passes
    both checks raises ``OAuthError``; one that fails them raises ``AuthorizationResponseError``
    without the server's error text (it is not to be acted on or displayed).
    """
    values = _response_params(params)
    where = request.redirect_uri
    state = values.get("state")
    if state is None or not hmac.compare_digest(state.encode(), request.state.encode()):
        raise AuthorizationResponseError(
            "authorization response state is missing or does not match",
            requirement="C-41",
            where=where,
            expected="the state sent with this authorization request",
            found="missing" if state is None else "a different value",
            hint="the response does not belong to this request (CSRF or a stale browser tab); "
            "start the authorization again",
        )
    iss = values.get("iss")
    if iss is None and request.iss_supported:
        raise AuthorizationResponseError(
            "authorization response has no iss although the AS advertises it",
            requirement="C-43",
            where=where,
            expected=request.issuer,
            found="missing",
            hint="possible mix-up attack (RFC 9207); the code was not redeemed",
        )
    if iss is not None and iss != request.issuer:  # simple string comparison, no normalisation
        raise AuthorizationResponseError(
            "authorization response iss does not match the issuer of this request",
            requirement="C-43",
            where=where,
            expected=request.issuer,
            found=iss,
            hint="possible mix-up attack (RFC 9207); the response was ignored",
        )
    if "error" in values:
        raise OAuthError(
            clean_text(values["error"]) or "unknown_error",
            error_description=clean_text(values.get("error_description")),
            error_uri=clean_text(values.get("error_uri")),
            requirement="C-51",
            where=request.url.split("?", 1)[0],
        )
    code = values.get("code")
    if not code:
        raise AuthorizationResponseError(
            "authorization response has no code",
            requirement="C-51",
            where=where,
            expected="code=… (OAuth 2.1 §4.1.2)",
            found="missing" if code is None else "empty",
        )
    return code


def _response_params(params: str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(params, Mapping):
        return {str(k): str(v) for k, v in params.items()}
    query = urlsplit(params).query if "://" in params else params.lstrip("?")
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in values and name in _RESPONSE_PARAMS:  # RFC 6749 §3.1: at most once
            raise AuthorizationResponseError(
                f"authorization response repeats {name}",
                requirement="C-43" if name == "iss" else "C-41",
                where="authorization response",
                expected=f"{name} at most once",
            )
        values[name] = value
    return values


# --- token requests (C-33, C-34, C-48) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A POST to the token endpoint; form and headers hold secrets and stay out of repr."""

    url: str
    form: Mapping[str, str] = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)

    def body(self) -> bytes:
        """The ``application/x-www-form-urlencoded`` body."""
        return urlencode(dict(self.form)).encode("ascii")


def code_token_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    code: str,
    request: AuthorizationRequest,
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """authorization_code grant with the verifier and the same ``resource`` (C-33)."""
    if md.issuer != request.issuer:  # the code is redeemed only where it was requested (C-42)
        raise AuthorizationResponseError(
            "the code would be redeemed at another authorization server",
            requirement="C-42",
            where=md.issuer,
            expected=request.issuer,
            found=md.issuer,
        )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.pkce.verifier,
    }
    if request.resource is not None:
        form["resource"] = request.resource
    return token_endpoint_request(md, client, form, auth_method, now, private_key, signing_alg)


def refresh_token_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    refresh_token: str,
    resource: str | None,
    scope: Iterable[str] | None,
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """refresh_token grant; ``resource`` must be the value used at authorization (C-34)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    add_resource_scope(form, resource, scope)
    return token_endpoint_request(md, client, form, auth_method, now, private_key, signing_alg)


def client_credentials_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    resource: str | None,
    scope: Iterable[str] | None,
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """client_credentials grant (OAuth 2.1 §4.2; MCP client-credentials extension)."""
    if auth_method == "none":
        raise RegistrationError(
            "the client_credentials grant needs a confidential client",
            requirement="C-31",
            where=md.issuer,
            expected="client_secret_basic, client_secret_post or private_key_jwt",
            found="none",
            hint="configure client_secret or a private key for this client",
        )
    form = {"grant_type": "client_credentials"}
    add_resource_scope(form, resource, scope)
    return token_endpoint_request(md, client, form, auth_method, now, private_key, signing_alg)


def add_resource_scope(
    form: dict[str, str], resource: str | None, scope: Iterable[str] | None
) -> None:
    """RFC 8707 ``resource`` and the checked RFC 6749 §3.3 ``scope`` of a token request."""
    if resource is not None:
        form["resource"] = resource
    scopes = _scope_tuple(scope)
    if scopes:
        form["scope"] = " ".join(scopes)


def token_endpoint_request(
    md: ServerMetadata,
    client: ClientInfo,
    form: dict[str, str],
    method: str,
    now: float,
    private_key: Any,
    signing_alg: str | None,
) -> TokenRequest:
    """A POST of ``form`` to ``md``'s token endpoint with ``client``'s authentication (C-31),
    only for a client of that authorization server (C-30)."""
    endpoint = md.token_endpoint
    if not endpoint:
        raise ServerMetadataError(
            "AS metadata has no token_endpoint",
            requirement="C-13",
            where=md.issuer,
            expected="token_endpoint (RFC 8414 §2)",
        )
    return authenticated_post(md, client, endpoint, form, method=method, now=now,
                              private_key=private_key, signing_alg=signing_alg)  # fmt: skip


def authenticated_post(
    md: ServerMetadata,
    client: ClientInfo,
    endpoint: str,
    form: Mapping[str, str],
    *,
    method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
    audience: str | None = None,
) -> TokenRequest:
    """A form POST to one of ``md``'s endpoints (token, revocation, device authorization)
    authenticated as ``client`` (RFC 6749 §2.3, RFC 7523), which must be a client of that
    authorization server (C-30: never another AS's credentials)."""
    if client.issuer != md.issuer and client.source != "cimd":
        raise RegistrationError(
            "client credentials belong to another authorization server",
            requirement="C-30",
            where=md.issuer,
            expected=f"a client registered with {md.issuer}",
            found=f"client for {client.issuer}",
        )
    extra_form, headers = client_auth(
        client, method=method, token_endpoint=endpoint, now=now, private_key=private_key,
        signing_alg=signing_alg, audience=audience,
    )  # fmt: skip
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        **headers,
    }
    return TokenRequest(url=endpoint, form={**form, **extra_form}, headers=headers)


def _scope_tuple(scope: Iterable[str] | None) -> tuple[str, ...] | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        raise TypeError("scope must be an iterable of scope tokens, not a string")
    scopes = tuple(dict.fromkeys(scope))
    for token in scopes:
        if not is_scope_token(token):  # RFC 6749 §3.3
            raise InvalidInput(
                "scope token has characters outside RFC 6749 §3.3",
                requirement="C-37",
                where="scope",
                expected="%x21 / %x23-5B / %x5D-7E, no spaces",
                found=token,
            )
    return scopes
