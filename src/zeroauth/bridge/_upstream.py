"""The bridge as ONE confidential client of the upstream IdP (OAuth 2.1 §4.1, OpenID Connect
Core 1.0 §3.1), every request through the one outbound wire (``zeroauth._wire``, operator
endpoint policy: https, or http on loopback).

- discovery: the configured ``metadata_url``, else the forms the ``zeroauth.idp`` profile serves,
  else RFC 8414 / OIDC Discovery candidates; explicit endpoints skip it (GitHub);
- the authorization request: its own PKCE S256, ``state``, OIDC ``nonce``; ``resource`` only
  where the profile accepts it (Entra rejects it); the profile's quirks as parameters;
- the code exchange and refresh: ``core.grants`` requests with ``core.client_auth``
  (``client_secret_basic``/``_post``, RFC 7523 ``private_key_jwt``);
- the ID token (OIDC Core §3.1.3.7): signature by the upstream JWKS (``server._jwks``), ``iss``,
  ``aud`` = the bridge's client id (``azp`` when several), ``nonce``, ``exp``/``iat``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jwt

from zeroauth._wire.policy import ENDPOINT
from zeroauth._wire.transport import OAuthTransport
from zeroauth.bridge._config import Upstream
from zeroauth.core.client_info import ClientInfo
from zeroauth.core.errors import OAuthError, ZeroAuthError
from zeroauth.core.flow.steps import HTTPRequest, HTTPResponse
from zeroauth.core.grants import (
    AuthorizationRequest,
    build_authorization_request,
    code_token_request,
    parse_authorization_response,
    refresh_token_request,
)
from zeroauth.core.pkce import PKCE, s256_challenge
from zeroauth.core.server_metadata import ServerMetadata, metadata_candidates
from zeroauth.core.tokens import TokenSet, parse_token_response
from zeroauth.idp import metadata_urls
from zeroauth.server._jwks import JWKSCache

__all__ = ["UpstreamClient", "UpstreamFailureError", "UpstreamLogin", "UpstreamTokens"]

_ID_TOKEN_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
_LEEWAY = 60


class UpstreamFailureError(Exception):
    """The upstream refused or could not be reached; ``error`` is the OAuth error for the MCP
    client (``access_denied`` or ``temporarily_unavailable``), ``description`` says why;
    ``upstream_error`` is the upstream's own OAuth error code when it answered with one
    (``invalid_grant``: the user's upstream grant has ended)."""

    def __init__(self, error: str, description: str, upstream_error: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description[:300]
        self.upstream_error = upstream_error


@dataclass(frozen=True, slots=True)
class UpstreamLogin:
    """What the callback needs to finish a login it started (kept in the login record)."""

    url: str
    state: str
    verifier: str = field(repr=False)
    nonce: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpstreamTokens:
    """A finished login: the user (qualified by the upstream issuer) and the tokens."""

    subject: str
    tokens: TokenSet
    granted: tuple[str, ...]  # upstream scopes granted (RFC 6749 §5.1: as asked when absent)
    # the verified ID token's claims, or the user document of a plain OAuth 2.0 upstream: the
    # roles and groups the scope_map reads (``_grants``)
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


class UpstreamClient:
    """Discovery, authorization URL, code exchange, refresh and ID-token check (one upstream)."""

    def __init__(self, upstream: Upstream, *, redirect_uri: str, timeout: float) -> None:
        self._up = upstream
        self._redirect_uri = redirect_uri
        self._wire = OAuthTransport(url_policy=ENDPOINT, timeout=timeout)
        self._md: ServerMetadata | None = None
        self._jwks: JWKSCache | None = None
        self._client = ClientInfo(
            client_id=upstream.client_id,
            issuer=upstream.issuer,
            source="pre-registered",
            client_secret=upstream.client_secret,
            token_endpoint_auth_method=upstream.auth_method,
            redirect_uris=(redirect_uri,),
        )

    # -- discovery --------------------------------------------------------------------------
    async def metadata(self) -> ServerMetadata:
        """The upstream's metadata, fetched once (``UpstreamFailureError`` while unreachable)."""
        if self._md is not None:
            return self._md
        up = self._up
        if up.authorization_endpoint and up.token_endpoint:
            self._md = ServerMetadata(
                issuer=up.issuer,
                authorization_endpoint=up.authorization_endpoint,
                token_endpoint=up.token_endpoint,
            )
            return self._md
        profile = up.idp_profile()
        if up.metadata_url:
            urls: Iterable[str] = (up.metadata_url,)
        elif profile is not None:
            urls = metadata_urls(profile, up.issuer)
        else:
            urls = metadata_candidates(up.issuer)
        problems = []
        for url in urls:
            response = await self._wire.fetch(HTTPRequest.get(url, "as-metadata"))
            if response.status != 200:
                problems.append(f"{url}: {response.describe()}")
                continue
            try:
                md = ServerMetadata.from_json(
                    json.loads(response.body), issuer=up.issuer, where=url, policy=ENDPOINT
                )
            except (ValueError, ZeroAuthError) as exc:
                problems.append(f"{url}: {exc}")
                continue
            self._md = md
            return md
        raise UpstreamFailureError(
            "temporarily_unavailable",
            "the upstream identity provider's metadata could not be loaded: " + "; ".join(problems),
        )

    # -- the authorization request ----------------------------------------------------------
    async def login(
        self, *, state: str, nonce: str, mcp_scopes: Iterable[str], login_hint: str | None
    ) -> UpstreamLogin:
        md = await self.metadata()
        up = self._up
        asked = (scope for s in mcp_scopes for scope in up.requested_scopes(s))
        scopes = tuple(dict.fromkeys([*up.scopes, *asked]))  # never a role or group
        extra = dict(up.authorization_params)
        if up.oidc:
            extra["nonce"] = nonce  # OIDC Core §3.1.2.1, checked in the ID token
        if login_hint and up.forward_login_hint:
            extra["login_hint"] = login_hint
        try:
            request = build_authorization_request(
                md,
                client_id=up.client_id,
                redirect_uri=self._redirect_uri,
                resource=up.resource if up.sends_resource else None,
                scope=scopes,
                state=state,
                extra=extra,
            )
        except (ZeroAuthError, ValueError) as exc:  # metadata or configuration the flow refuses
            raise UpstreamFailureError(
                "server_error", f"upstream login not possible: {exc}"
            ) from None
        return UpstreamLogin(
            request.url, state, request.pkce.verifier, nonce if up.oidc else None, scopes
        )

    def _request_record(self, md: ServerMetadata, login: UpstreamLogin) -> AuthorizationRequest:
        pkce = PKCE(verifier=login.verifier, challenge=s256_challenge(login.verifier))
        return AuthorizationRequest(
            url=md.authorization_endpoint or "",
            state=login.state,
            pkce=pkce,
            issuer=md.issuer,
            redirect_uri=self._redirect_uri,
            resource=self._up.resource if self._up.sends_resource else None,
            scope=login.scopes,
            iss_supported=md.authorization_response_iss_parameter_supported,
        )

    # -- the callback -----------------------------------------------------------------------
    async def finish(self, login: UpstreamLogin, params: dict[str, str]) -> UpstreamTokens:
        """Check the response (``state``, RFC 9207 ``iss``), redeem the code, verify the ID
        token; ``UpstreamFailureError`` for anything wrong (nothing is stored by this method)."""
        md = await self.metadata()
        record = self._request_record(md, login)
        try:
            code = parse_authorization_response(params, record)
        except OAuthError as exc:
            text = exc.error + (f": {exc.error_description}" if exc.error_description else "")
            raise UpstreamFailureError(
                "access_denied", f"the identity provider refused ({text})"
            ) from None
        except ZeroAuthError as exc:
            raise UpstreamFailureError(
                "access_denied", f"bad upstream response: {exc.message}"
            ) from None
        now = time.time()
        try:
            request = code_token_request(
                md, self._client, code=code, request=record, auth_method=self._up.auth_method,
                now=now, private_key=self._up.private_key, signing_alg=self._up.signing_alg,
            )  # fmt: skip
        except ZeroAuthError as exc:  # no token endpoint, an unusable client key
            raise UpstreamFailureError("server_error", f"upstream token request: {exc}") from None
        response = await self._post(request.url, dict(request.form), dict(request.headers))
        tokens, raw = self._tokens(response, now, md)
        subject, claims = await self._subject(md, tokens, raw, login)
        granted = tokens.scope if tokens.scope is not None else login.scopes
        return UpstreamTokens(f"{md.issuer}#{subject}", tokens, tuple(granted), claims)

    async def refresh(self, refresh_token: str) -> TokenSet:
        md = await self.metadata()
        now = time.time()
        try:
            request = refresh_token_request(
                md, self._client, refresh_token=refresh_token,
                resource=self._up.resource if self._up.sends_resource else None, scope=None,
                auth_method=self._up.auth_method, now=now, private_key=self._up.private_key,
                signing_alg=self._up.signing_alg,
            )  # fmt: skip
        except ZeroAuthError as exc:
            raise UpstreamFailureError("server_error", f"upstream refresh request: {exc}") from None
        response = await self._post(request.url, dict(request.form), dict(request.headers))
        tokens, _ = self._tokens(response, now, md)
        if tokens.refresh_token is None:  # RFC 6749 §6: the old one stays valid
            tokens = replace(tokens, refresh_token=refresh_token)
        return tokens

    async def _post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> HTTPResponse:
        response = await self._wire.fetch(HTTPRequest.post_form(url, "token", form, headers))
        if response.status == 0 or response.status >= 500:
            raise UpstreamFailureError(
                "temporarily_unavailable",
                f"the identity provider's token endpoint failed ({response.describe()})",
            )
        return response

    def _tokens(
        self, response: HTTPResponse, now: float, md: ServerMetadata
    ) -> tuple[TokenSet, dict[str, Any]]:
        try:
            tokens = parse_token_response(
                response.status, response.body, now=now, where=response.url, issuer=md.issuer
            )
            raw = json.loads(response.body)
        except OAuthError as exc:
            text = exc.error + (f": {exc.error_description}" if exc.error_description else "")
            raise UpstreamFailureError(
                "access_denied", f"the identity provider refused ({text})", exc.error
            ) from None
        except (ValueError, ZeroAuthError) as exc:
            raise UpstreamFailureError(
                "access_denied", f"bad token response from upstream: {exc}"
            ) from None
        return tokens, raw

    async def _subject(
        self, md: ServerMetadata, tokens: TokenSet, raw: dict[str, Any], login: UpstreamLogin
    ) -> tuple[str, dict[str, Any]]:
        """The user and the claims naming them (verified ID token, or the user document)."""
        up = self._up
        if up.oidc:
            id_token = raw.get("id_token")
            if not isinstance(id_token, str):
                raise UpstreamFailureError(
                    "access_denied", "the identity provider sent no ID token"
                )
            claims = await self.verify_id_token(md, id_token, login.nonce)
            return str(claims["sub"]), claims
        if up.userinfo_url:
            headers = {"authorization": f"Bearer {tokens.access_token}"}
            answer = await self._wire.fetch(
                HTTPRequest.get(up.userinfo_url, "token", headers=headers, cacheable=False)
            )
            try:
                data = json.loads(answer.body) if answer.status == 200 else {}
            except ValueError:
                data = {}
        else:  # received directly from the token endpoint over the authenticated connection
            try:
                data = jwt.decode(tokens.access_token, options={"verify_signature": False})
            except jwt.PyJWTError:
                data = {}
        subject = data.get(up.subject_claim) if isinstance(data, dict) else None
        if subject is None or isinstance(subject, (dict, list)) or str(subject) == "":
            raise UpstreamFailureError(
                "access_denied", f"the upstream user could not be identified ({up.subject_claim})"
            )
        return str(subject), data

    async def verify_id_token(
        self, md: ServerMetadata, id_token: str, nonce: str | None
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.7 (``UpstreamFailureError`` naming the check that failed)."""
        jwks_uri = md.jwks_uri
        if jwks_uri is None:
            raise UpstreamFailureError("access_denied", "the identity provider has no jwks_uri")
        if self._jwks is None:
            self._jwks = JWKSCache(jwks_uri, timeout=self._wire.timeout)
        try:
            header = jwt.get_unverified_header(id_token)
            alg = str(header.get("alg"))
            if alg not in _ID_TOKEN_ALGS:
                raise UpstreamFailureError(
                    "access_denied", f"ID token alg {alg[:20]} is not allowed"
                )
            key = await self._jwks.key(header.get("kid"), alg)
            claims: dict[str, Any] = jwt.decode(
                id_token, key, algorithms=[alg], audience=self._up.client_id, issuer=md.issuer,
                leeway=_LEEWAY, options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise UpstreamFailureError(
                "access_denied", f"the upstream ID token is invalid: {exc}"
            ) from None
        except ZeroAuthError as exc:
            raise UpstreamFailureError(
                "temporarily_unavailable", f"upstream keys: {exc.message}"
            ) from None
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self._up.client_id:
            raise UpstreamFailureError(
                "access_denied", "the upstream ID token's azp is not the bridge"
            )
        if nonce is not None and claims.get("nonce") != nonce:
            raise UpstreamFailureError(
                "access_denied", "the upstream ID token's nonce does not match"
            )
        return claims
