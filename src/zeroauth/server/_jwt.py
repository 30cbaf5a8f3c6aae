"""JWT access-token verification for resource servers.

Implements RFC 7515 §5.2 (JWS validation), RFC 7519 §7.2 (JWT validation), RFC 9068 §4
(JWT access tokens: ``typ``, ``iss``, ``aud``, ``exp``, ``scope``), RFC 8725 §3.1-§3.2 (pinned
algorithms, key chosen by ``kid`` only), RFC 8707 §2 / MCP S-19, S-20 (audience binding), and
SECURITY rows B1-B3, B13.

Two explicit steps. (1) Signature: the header may only say ``alg`` (pinned allow-list) and
``kid``; the key comes from the cached JWKS and must fit the algorithm; ``crit`` is refused (we
implement no extension); ``jku``/``x5u``/``jwk``/``x5c`` are never used; RFC 9068 ``typ`` is
checked where present. (2) Claims: exact ``iss``, ``aud`` containing our resource (on by
default), ``exp`` required, ``nbf``/``iat`` with a small leeway, ``scope``/``scp``.

Real IdPs need four knobs: ``issuers`` (several exact issuers, each with its own JWKS: Entra v1
``https://sts.windows.net/<tid>/`` and v2 ``…/<tid>/v2.0``; the key is taken from the JWKS of
the issuer the token names, and that issuer is checked again after the signature),
``audiences`` (several accepted ``aud`` values: Entra's client-ID GUID and ``api://`` URI),
``scope_claims`` (the claims scopes are read from, in order, each a space-separated string or
a JSON array of strings: Entra ``scp`` + ``roles``, Auth0 ``scope`` + ``permissions``, Okta
``scp`` array; a claim not listed is never read) and ``allowed_client_ids`` (the client named
by ``client_id``, else ``azp``, else ``appid``, else Okta's ``cid`` must be listed; a token
without ``aud``, as Cognito access tokens are, is accepted only through this binding).

Step 1 runs on ``cryptography`` primitives through ``zeroauth.server._jws`` (strict base64url
that accepts exactly what PyJWT 2.15 accepts, the signature per ``alg``). Verified tokens are
cached by a BLAKE2b of their bytes (LRU, never served past ``exp``), so a repeated token costs
microseconds.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature

from zeroauth.core.errors import InvalidToken
from zeroauth.server._jwks import KEY_TYPES, JWKSCache
from zeroauth.server._jws import VERIFIERS, b64url_decode, loads
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["MAX_TOKEN_LENGTH", "SUPPORTED_ALGORITHMS", "JWTVerifier", "b64url_decode"]

log = logging.getLogger("zeroauth.server.jwt")

MAX_TOKEN_LENGTH = 16 * 1024  # B13: bounded work before any parsing
SUPPORTED_ALGORITHMS = frozenset(KEY_TYPES)  # asymmetric only: no HS*, no "none" (B2)
_ACCESS_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_JWT_TYPES = _ACCESS_TYPES | {"jwt", "application/jwt"}
_MAX_HEADERS = 64
_STRING_CLAIMS = ("sub", "client_id", "azp", "jti")


def _refuse(description: str, requirement: str = "S-19", hint: str | None = None) -> InvalidToken:
    return InvalidToken(description, requirement=requirement, hint=hint)


def _json_object(segment: bytes, name: str) -> dict[str, Any]:
    try:  # UTF-8 only (RFC 7515 §5.2 step 4); PyJWT also sniffs UTF-16/32: we are stricter
        value = loads(b64url_decode(segment).decode("utf-8"))
    except (ValueError, RecursionError):
        raise _refuse(f"malformed token: the {name} is not base64url JSON") from None
    if type(value) is not dict:
        raise _refuse(f"malformed token: the {name} is not a JSON object")
    return value


def _numeric_date(value: object, name: str) -> int:
    """RFC 7519 §2 NumericDate (a JSON number), truncated to an integer like PyJWT."""
    if type(value) is int:  # bool is not int here: True is refused, as RFC 7519 §2 wants
        return value
    if type(value) is float and math.isfinite(value):
        return int(value)
    raise _refuse(f"the {name} claim is not a number", "B3")


def _scope_values(value: object, name: str) -> frozenset[str]:
    if type(value) is str:
        return frozenset(value.split())
    if type(value) is list and all(type(v) is str for v in value):
        return frozenset(value)
    raise _refuse(f"the {name} claim is neither a string nor a list of strings")


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Default: ``scope``, else ``scp`` (RFC 9068 §2.2.3; ``scp`` as Entra and Okta write it)."""
    value = claims.get("scope", claims.get("scp"))
    if value is None:
        return frozenset()
    return _scope_values(value, "scope")


def _listed_scopes(claims: Mapping[str, Any], names: tuple[str, ...]) -> frozenset[str]:
    """``scope_claims``: the union of the listed claims present; other claims are ignored."""
    scopes: frozenset[str] = frozenset()
    for name in names:
        value = claims.get(name)
        if value is not None or name in claims:
            scopes |= _scope_values(value, name)
    return scopes


def _issuer_keys(
    issuer: str | None,
    jwks_uri: str | None,
    jwks: JWKSCache | None,
    issuers: Mapping[str, str | JWKSCache] | None,
) -> tuple[dict[str, JWKSCache], list[JWKSCache]]:
    """issuer -> its JWKS cache, and the caches created here (one per distinct URL)."""
    if issuers is None:
        if not issuer:
            raise ValueError("issuer (or issuers) is required (RFC 9068 §4: exact iss match)")
        if (jwks is None) == (jwks_uri is None):
            raise ValueError("give exactly one of jwks_uri or jwks")
        source: Mapping[str, str | JWKSCache] = {
            issuer: jwks if jwks is not None else str(jwks_uri)
        }
    elif issuer is not None or jwks_uri is not None or jwks is not None:
        raise ValueError("give issuers= alone, or issuer= with jwks_uri= or jwks=")
    else:
        source = issuers
    if not source or not all(type(i) is str and i for i in source):
        raise ValueError("issuers must map each non-empty issuer string to a jwks_uri or JWKSCache")
    by_url: dict[str, JWKSCache] = {}
    by_issuer = {
        iss: keys if isinstance(keys, JWKSCache) else by_url.setdefault(keys, JWKSCache(keys))
        for iss, keys in source.items()
    }
    return by_issuer, list(by_url.values())


class JWTVerifier(TokenVerifier):
    """Verifies RFC 9068 JWT access tokens for one protected resource (see module docstring)."""

    def __init__(
        self,
        *,
        issuer: str | None = None,
        resource: str | Sequence[str],
        jwks_uri: str | None = None,
        jwks: JWKSCache | None = None,
        issuers: Mapping[str, str | JWKSCache] | None = None,
        audiences: Sequence[str] | None = None,
        scope_claims: Sequence[str] | None = None,
        allowed_client_ids: Collection[str] | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway: float = 30,
        audience_check: bool = True,
        required_typ: bool = False,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        by_issuer, created = _issuer_keys(issuer, jwks_uri, jwks, issuers)
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(
                f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}; "
                f"refused: {sorted(unsupported)}"
            )
        if isinstance(scope_claims, str) or (scope_claims is not None and not scope_claims):
            raise ValueError("scope_claims must be a non-empty sequence of claim names")
        if isinstance(allowed_client_ids, str):
            raise ValueError("allowed_client_ids must be a collection of client IDs, not a string")
        if isinstance(audiences, str):
            audiences = (audiences,)
        self.issuers = tuple(by_issuer)
        self.issuer = self.issuers[0]
        self.resources = (resource,) if isinstance(resource, str) else tuple(resource)
        self.audiences = self.resources if audiences is None else tuple(audiences)
        if audience_check and not self.audiences:
            raise ValueError("resource is required when audience_check is on (S-20)")
        if not audience_check:
            log.warning(
                "JWTVerifier for %s: audience check DISABLED; tokens minted for any resource "
                "of this issuer will be accepted (S-20 requires it on)",
                self.issuer,
            )
        self.jwks = by_issuer[self.issuer]
        self._jwks_by_issuer = by_issuer if len(by_issuer) > 1 else None
        self._own_jwks = created
        self.scope_claims = None if scope_claims is None else tuple(scope_claims)
        self.allowed_client_ids = (
            None if allowed_client_ids is None else frozenset(allowed_client_ids)
        )
        self.algorithms = frozenset(algorithms)
        self.leeway = float(leeway)
        self.audience_check = audience_check
        self.required_typ = required_typ
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[float, AccessToken]] = OrderedDict()
        self._headers: dict[bytes, tuple[str, str | None]] = {}  # header segments seen signed
        self._resource_set = frozenset(self.audiences)
        self._issuer_set = frozenset(self.issuers)
        self._clock = clock

    async def verify(self, token: str) -> AccessToken:
        """Verify a bearer token; ``InvalidToken`` with the reason (never the token) otherwise."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise _refuse(f"token longer than {MAX_TOKEN_LENGTH} characters", "B13")
        if not token.isascii():
            raise _refuse("malformed token: non-ASCII characters", "B13")
        raw = token.encode("ascii")
        digest = hashlib.blake2b(raw, digest_size=32).digest()
        now = self._clock()
        cache = self._cache
        cached = cache.get(digest)
        if cached is not None:
            if now < cached[0]:
                cache.move_to_end(digest)
                return cached[1]
            cache.pop(digest, None)
        parts = raw.split(b".")
        if len(parts) != 3:
            raise _refuse("malformed token: not a JWS compact serialization (3 segments)")
        known = self._headers.get(parts[0])
        alg, kid = known if known is not None else self._check_header(parts[0])
        try:
            signature = b64url_decode(parts[2])
        except ValueError:  # before any key lookup: garbage never triggers a JWKS fetch
            raise _refuse("malformed token: the signature is not base64url") from None
        jwks, claims = self.jwks, None
        if self._jwks_by_issuer is not None:  # several issuers: the named issuer's keys only
            claims = _json_object(parts[1], "payload")
            iss = claims.get("iss")
            found = self._jwks_by_issuer.get(iss) if type(iss) is str else None
            if found is None:
                raise self._wrong_issuer()
            jwks = found
        key = jwks.peek(kid, alg)
        if key is None:
            key = await jwks.key(kid, alg)
        try:  # step 1: the signature, with the pinned algorithm and the key chosen by kid
            VERIFIERS[alg](key, signature, raw[: len(parts[0]) + 1 + len(parts[1])])
        except (InvalidSignature, ValueError):
            raise _refuse("signature verification failed", "B2") from None
        if known is None and len(self._headers) < _MAX_HEADERS:
            self._headers[parts[0]] = (alg, kid)  # only headers seen with a valid signature
        # step 2: the claims of a payload now known to come from the issuer
        if claims is None:
            claims = _json_object(parts[1], "payload")
        deadline, access = self._check_claims(claims, now)
        if now < deadline and self._cache_size > 0:
            cache[digest] = (deadline, access)
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return access

    def _wrong_issuer(self) -> InvalidToken:
        return _refuse(
            "token issuer mismatch", "B3", f"accepted issuers: {', '.join(self.issuers)}"
        )

    def _check_header(self, segment: bytes) -> tuple[str, str | None]:
        """Step 1a: only ``alg`` (pinned) and ``kid`` are used; ``crit`` is refused (B2)."""
        header = _json_object(segment, "header")
        alg, kid = header.get("alg"), header.get("kid")
        if type(alg) is not str or alg not in self.algorithms:
            accepted = ", ".join(sorted(self.algorithms))
            raise _refuse("signature algorithm not allowed", "B2", f"accepted: {accepted}")
        if "kid" in header and type(kid) is not str:
            raise _refuse("malformed token: kid is not a string", "B2")
        if "crit" in header or header.get("b64", True) is not True:
            raise _refuse("token uses a critical JWS extension this server does not support", "B2")
        typ = header.get("typ")
        if typ is not None or self.required_typ:
            allowed = _ACCESS_TYPES if self.required_typ else _JWT_TYPES
            if type(typ) is not str or typ.lower() not in allowed:
                raise _refuse(
                    "token type is not an access token (RFC 9068 typ at+jwt)",
                    hint="this server accepts access tokens only, not ID tokens or other JWTs",
                )
        return alg, kid

    def _check_claims(self, claims: dict[str, Any], now: float) -> tuple[float, AccessToken]:
        """Step 2: RFC 7519 §7.2 / RFC 9068 §4 claims, with PyJWT's leeway semantics."""
        get = claims.get
        exp, iat, nbf = get("exp"), get("iat"), get("nbf")
        if type(exp) is not int:
            if exp is None:
                raise _refuse("token has no exp claim", "B3")
            exp = _numeric_date(exp, "exp")
        if exp <= now - self.leeway:
            raise _refuse("token expired", "B3", "obtain a new access token")
        latest = now + self.leeway
        if (iat is not None or "iat" in claims) and _numeric_date(iat, "iat") > latest:
            raise _refuse("token not yet valid (iat)", "B3", "check the clocks")
        if (nbf is not None or "nbf" in claims) and _numeric_date(nbf, "nbf") > latest:
            raise _refuse("token not yet valid (nbf)", "B3", "check the clocks")
        iss = get("iss")
        if iss != self.issuer and (type(iss) is not str or iss not in self._issuer_set):
            raise self._wrong_issuer()
        aud = get("aud")
        if type(aud) is str:
            audience: tuple[str, ...] = (aud,)
        elif type(aud) is list and all(type(a) is str for a in aud):
            audience = tuple(aud)
        else:
            audience = ()
        if (
            self.audience_check
            and self._resource_set.isdisjoint(audience)
            # no aud at all (Cognito): the allowed_client_ids binding below stands in for it
            and (self.allowed_client_ids is None or "aud" in claims)
        ):
            raise _refuse(
                "token audience does not include this resource",
                "S-20",
                f"request the token with resource={self.resources[0]} (RFC 8707)",
            )
        sub, client_id, azp, jti = get("sub"), get("client_id"), get("azp"), get("jti")
        if (
            (type(sub) is not str and "sub" in claims)
            or (type(client_id) is not str and "client_id" in claims)
            or (type(azp) is not str and "azp" in claims)
            or (type(jti) is not str and "jti" in claims)
        ):
            name = next(n for n in _STRING_CLAIMS if n in claims and type(claims[n]) is not str)
            raise _refuse(f"the {name} claim is not a string")
        client = client_id if client_id is not None else azp
        if client is None:
            # Entra v1 tokens name the client in appid, Okta's in cid
            client = next((c for n in ("appid", "cid") if type(c := get(n)) is str), None)
        if self.allowed_client_ids is not None and client not in self.allowed_client_ids:
            raise _refuse(
                "token was issued to a client this resource does not accept",
                "S-20",
                "the client_id/azp/appid/cid claim must be one of the allowed client IDs",
            )
        if self.scope_claims is None:
            scope = get("scope")
            scopes = frozenset(scope.split()) if type(scope) is str else _scopes(claims)
        else:
            scopes = _listed_scopes(claims, self.scope_claims)
        expires_at = float(exp)
        access = AccessToken(
            iss,
            sub,
            client,
            audience,
            scopes,
            expires_at,
            MappingProxyType(claims),
        )
        return expires_at, access

    async def aclose(self) -> None:
        """Close the JWKS caches this verifier created."""
        for jwks in self._own_jwks:
            await jwks.aclose()
