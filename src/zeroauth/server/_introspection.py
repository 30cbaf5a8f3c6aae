"""Opaque-token verification by OAuth 2.0 Token Introspection (RFC 7662 §2).

The resource server POSTs ``token`` and ``token_type_hint=access_token`` to the introspection
endpoint, authenticating as a client (RFC 6749 §2.3.1: ``client_secret_basic`` by default,
``client_secret_post`` on request). It accepts only ``"active": true`` answers whose ``aud``
contains this resource (MCP S-20), whose ``iss`` is the configured issuer (when configured) and
whose ``exp`` lies in the future. Answers are cached (bounded LRU keyed by a hash of the token,
TTL capped by ``exp``); inactive answers and errors are never cached, and an unreachable endpoint
fails closed with a log line (SECURITY B12).

The same IdP knobs as ``JWTVerifier``: ``issuers`` (several accepted ``iss`` values),
``audiences`` (several accepted ``aud`` values; default: the resource), ``scope_claims``
(claims to read scopes from; default ``scope``) and ``allowed_client_ids`` (the answer's
``client_id``, else ``azp``, else ``appid``, else ``cid``, must be listed; an answer without
``aud`` is accepted only through this binding).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

import httpx2

from zeroauth._wire.policy import URLChecker, endpoint_policy
from zeroauth._wire.transport import OAuthTransport
from zeroauth.core.errors import InvalidToken
from zeroauth.core.flow.steps import HTTPRequest
from zeroauth.server._jwt import MAX_TOKEN_LENGTH, _listed_scopes
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["IntrospectionVerifier"]

log = logging.getLogger("zeroauth.server.introspection")

MAX_RESPONSE_BYTES = 1 << 20
_BEARER_TYPES = frozenset(
    {"bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token"}
)


def _refuse(description: str, requirement: str = "S-19", hint: str | None = None) -> InvalidToken:
    return InvalidToken(description, requirement=requirement, hint=hint)


def _number(answer: Mapping[str, Any], name: str) -> float | None:
    value = answer.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(f"introspection answer has a malformed {name}", "B12")
    return float(value)


class IntrospectionVerifier(TokenVerifier):
    """Verifies opaque access tokens with the authorization server (see module docstring)."""

    def __init__(
        self,
        *,
        introspection_endpoint: str,
        client_id: str,
        client_secret: str | None,
        resource: str,
        issuer: str | None = None,
        issuers: Iterable[str] | None = None,
        audiences: Sequence[str] | None = None,
        scope_claims: Sequence[str] = ("scope",),
        allowed_client_ids: Collection[str] | None = None,
        cache_ttl: float = 60,
        cache_size: int = 10_000,
        auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic",
        audience_check: bool = True,
        leeway: float = 30,
        timeout: float = 5.0,
        http: httpx2.AsyncClient | None = None,
        url_policy: URLChecker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        policy = endpoint_policy(url_policy)
        policy.check_url(
            introspection_endpoint, field="introspection_endpoint", requirement="SEC-05"
        )
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"unsupported client authentication method {auth_method!r}")
        if issuer is not None and issuers is not None:
            raise ValueError("give issuer= or issuers=, not both")
        for name, value in (("audiences", audiences), ("allowed_client_ids", allowed_client_ids)):
            if isinstance(value, str):
                raise ValueError(f"{name} must be a collection of strings, not a string")
        if isinstance(scope_claims, str) or not scope_claims:
            raise ValueError("scope_claims must be a non-empty sequence of claim names")
        if not audience_check:
            log.warning(
                "IntrospectionVerifier for %s: audience check DISABLED (S-20 requires it on)",
                resource,
            )
        self.endpoint, self.resource, self.issuer = introspection_endpoint, resource, issuer
        self.issuers = (issuer,) if issuer is not None else tuple(issuers or ())
        if issuers is not None and not all(type(i) is str and i for i in self.issuers):
            raise ValueError("issuers must be non-empty issuer strings")
        self.audiences = (resource,) if audiences is None else tuple(audiences)
        self.scope_claims = tuple(scope_claims)
        self.allowed_client_ids = (
            None if allowed_client_ids is None else frozenset(allowed_client_ids)
        )
        self.audience_check = audience_check
        self._client_id, self._secret, self._method = client_id, client_secret, auth_method
        self._cache_ttl, self._cache_size, self._leeway = cache_ttl, cache_size, leeway
        self._clock = clock
        # SECURITY W1/W3: pinned, 1 MiB, total deadline, no redirects; one pooled client
        self._wire = OAuthTransport(
            url_policy=policy, timeout=timeout, max_bytes=MAX_RESPONSE_BYTES, async_client=http
        )
        self._http, self._own_http = http, http is None
        self._cache: OrderedDict[bytes, tuple[float, AccessToken]] = OrderedDict()

    async def verify(self, token: str) -> AccessToken:
        """Verify an opaque bearer token; ``InvalidToken`` (never quoting it) otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise _refuse("token is empty or too long", "B13")
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise _refuse("malformed token: not a printable ASCII string", "B13")
        digest = hashlib.blake2b(token.encode(), digest_size=20).digest()
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None:
            if now < cached[0]:
                self._cache.move_to_end(digest)
                return cached[1]
            self._cache.pop(digest, None)
        answer = await self._introspect(token)
        deadline, access = self._check(answer, now)
        if self._cache_size > 0 and now < deadline:
            self._cache[digest] = (deadline, access)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return access

    def _request(self, token: str) -> tuple[dict[str, str], dict[str, str]]:
        form = {"token": token, "token_type_hint": "access_token"}
        headers: dict[str, str] = {}
        if self._secret is None:
            form["client_id"] = self._client_id
        elif self._method == "client_secret_post":
            form |= {"client_id": self._client_id, "client_secret": self._secret}
        else:  # RFC 6749 §2.3.1: form-urlencode each part, then Basic
            pair = f"{quote(self._client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return form, headers

    async def _introspect(self, token: str) -> Mapping[str, Any]:
        form, headers = self._request(token)
        if self._http is None:
            self._http = self._wire.new_async_client()
        request = HTTPRequest.post_form(self.endpoint, "introspection_endpoint", form, headers)
        try:  # RFC 7662 §2.1: POST, form-encoded, client authentication
            response = await self._wire.fetch(request, self._http)
            if response.status != 200:
                raise ValueError(response.error or f"HTTP {response.status}")
            answer = json.loads(response.body)
            if not isinstance(answer, dict):
                raise ValueError("answer is not a JSON object")
        except Exception as exc:  # fail closed on every transport or format failure
            log.error(
                "introspection at %s failed (%s: %s); refusing the token (fail closed)",
                self.endpoint,
                type(exc).__name__,
                exc,
            )
            raise _refuse(
                "the token could not be verified (introspection unavailable)",
                "B12",
                "the authorization server's introspection endpoint did not answer; retry later",
            ) from None
        return answer

    def _check(self, answer: Mapping[str, Any], now: float) -> tuple[float, AccessToken]:
        if answer.get("active") is not True:
            raise _refuse("token is not active", "B12", "obtain a new access token")
        token_type = answer.get("token_type")
        if token_type is not None and str(token_type).lower() not in _BEARER_TYPES:
            raise _refuse("token is not a bearer access token", "B12")
        exp, nbf = _number(answer, "exp"), _number(answer, "nbf")
        if exp is None:
            raise _refuse("introspection answer has no exp", "B12")
        if exp <= now - self._leeway:
            raise _refuse("token expired", "B3", "obtain a new access token")
        if nbf is not None and nbf > now + self._leeway:
            raise _refuse("token not yet valid (nbf)", "B3", "check the clocks")
        iss = answer.get("iss")
        if self.issuers and (not isinstance(iss, str) or iss not in self.issuers):
            expected = ", ".join(self.issuers)
            raise _refuse("token issuer mismatch", "B3", f"expected tokens from {expected}")
        aud = answer.get("aud")
        audience = (aud,) if isinstance(aud, str) else aud
        if not isinstance(audience, list | tuple) or not all(isinstance(a, str) for a in audience):
            audience = None
        if (
            self.audience_check
            and (not audience or not any(a in self.audiences for a in audience))
            # no aud at all (Cognito): the allowed_client_ids binding below stands in for it
            and (self.allowed_client_ids is None or "aud" in answer)
        ):
            raise _refuse(
                "token audience does not include this resource",
                "S-20",
                f"request the token with resource={self.resource} (RFC 8707)",
            )
        sub = answer.get("sub")
        client = next(
            (
                c
                for n in ("client_id", "azp", "appid", "cid")
                if isinstance(c := answer.get(n), str)
            ),
            None,
        )
        if self.allowed_client_ids is not None and client not in self.allowed_client_ids:
            raise _refuse(
                "token was issued to a client this resource does not accept",
                "S-20",
                "the client_id/azp/appid/cid member must be one of the allowed client IDs",
            )
        access = AccessToken(
            issuer=iss if isinstance(iss, str) else (self.issuer or ""),
            subject=sub if isinstance(sub, str) else None,
            client_id=client,
            audience=tuple(audience or ()),
            scopes=_listed_scopes(answer, self.scope_claims),
            expires_at=exp,
            claims=MappingProxyType(dict(answer)),
        )
        return min(exp, now + self._cache_ttl), access

    async def aclose(self) -> None:
        """Close the HTTP client this verifier created."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
