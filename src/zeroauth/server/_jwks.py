"""A JWKS cache for resource servers (RFC 7517 §4-§5, RFC 7518 §6, RFC 8725 §3.1-§3.2).

Keys are fetched through the one outbound wire (``zeroauth._wire``: DNS-pinned connection, 1 MiB
cap, total deadline, no redirects; SECURITY W1, W3), parsed once into ``cryptography`` public-key
objects, and checked against the algorithm a token asks for (``kty``/``crv``/``alg``/``use``/
``key_ops``). The cache honours ``Cache-Control: max-age``
within bounds (RFC 9111 §5.2, read by ``zeroauth.core.cache_control``), keeps serving cached keys
while the endpoint is down or slow (SECURITY B5), and handles rotation (B6): an unknown ``kid``
triggers at most one refetch per cool-down, shared by every concurrent request (single-flight,
B4). A cold start that cannot load keys fails closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from zeroauth._wire.policy import URLChecker, check_endpoint_url, endpoint_policy
from zeroauth._wire.transport import OAuthTransport
from zeroauth.core import cache_control
from zeroauth.core.errors import InvalidToken
from zeroauth.core.flow.steps import HTTPRequest

__all__ = [
    "KEY_TYPES",
    "JWKSCache",
    "URLChecker",
    "VerificationKey",
    "check_endpoint_url",
    "parse_jwks",
]

log = logging.getLogger("zeroauth.server.jwks")

MAX_JWKS_BYTES = 1 << 20
MAX_KEYS = 256
MIN_RSA_BITS = 2048

# alg -> (kty, allowed crv values or None when the kty has no crv)
KEY_TYPES: Mapping[str, tuple[str, frozenset[str] | None]] = {
    **{f"{p}{n}": ("RSA", None) for p in ("RS", "PS") for n in (256, 384, 512)},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
_PUBLIC_TYPES: Mapping[str, tuple[type, ...]] = {
    "RSA": (rsa.RSAPublicKey,),
    "EC": (ec.EllipticCurvePublicKey,),
    "OKP": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}
_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_STATIC = "static:"  # the jwks_uri of a JWKSCache.static(): never fetched


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key of a JWKS, parsed once."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a signature made with ``alg`` (RFC 8725 §3.1)."""
        want = KEY_TYPES.get(alg)
        if want is None or want[0] != self.kty:
            return False
        if self.alg is not None and self.alg != alg:
            return False
        return want[1] is None or self.crv in want[1]


def _parse_key(jwk: object) -> VerificationKey:
    if not isinstance(jwk, dict):
        raise ValueError("key is not a JSON object")
    kty, kid, alg, crv = jwk.get("kty"), jwk.get("kid"), jwk.get("alg"), jwk.get("crv")
    if not isinstance(kty, str) or kty not in _PARSERS:
        raise ValueError(f"unsupported kty {kty!r}")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("use is not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise ValueError("key_ops lacks 'verify'")
    if any(m in jwk for m in _PRIVATE_MEMBERS):
        raise ValueError("private key material published in a JWKS")
    if alg is not None and (alg not in KEY_TYPES or KEY_TYPES[alg][0] != kty):
        raise ValueError(f"alg {alg!r} does not fit kty {kty!r}")
    if crv is not None and not isinstance(crv, str):
        raise ValueError("crv is not a string")
    key = _PARSERS[kty](dict(jwk))
    if not isinstance(key, _PUBLIC_TYPES[kty]):
        raise ValueError("not a public key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits (< {MIN_RSA_BITS})")
    if isinstance(key, ed448.Ed448PublicKey):
        crv = "Ed448"
    return VerificationKey(kid=kid, kty=kty, crv=crv, alg=alg, key=key)


def parse_jwks(data: bytes, *, where: str) -> tuple[VerificationKey, ...]:
    """Parse a JWK Set document; unusable keys are skipped with a log line (RFC 7517 §5)."""
    doc = json.loads(data)
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWK Set (no 'keys' array)")
    parsed: list[VerificationKey] = []
    for jwk in keys[:MAX_KEYS]:
        try:
            parsed.append(_parse_key(jwk))
        except Exception as exc:  # one bad key must not poison the set
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            log.warning("JWKS %s: skipping key kid=%r: %s", where, kid, exc)
    return tuple(parsed)


class JWKSCache:
    """Asynchronously fetched, cached, rotation-aware JWKS (see the module docstring)."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        http: httpx2.AsyncClient | None = None,
        cache_ttl: float = 3600,
        refetch_cooldown: float = 30,
        url_policy: URLChecker | None = None,
        min_ttl: float = 60,
        max_ttl: float = 86_400,
        timeout: float = 5.0,
        max_bytes: int = MAX_JWKS_BYTES,
        clock: Callable[[], float] = time.monotonic,
        verify: bool | ssl.SSLContext = True,  # e.g. a dev CA: DevCertificates.client_context()
    ) -> None:
        policy = endpoint_policy(url_policy)
        if not jwks_uri.startswith(_STATIC):  # static(): nothing to fetch, nothing to check
            policy.check_url(jwks_uri, field="jwks_uri", requirement="SEC-05")
        self.jwks_uri = jwks_uri
        # SECURITY W1/W3: pinned, 1 MiB, total deadline, no redirects (RFC 7517 §5 fetch)
        self._wire = OAuthTransport(
            url_policy=policy, timeout=timeout, max_bytes=max_bytes, async_client=http,
            verify=verify,
        )  # fmt: skip
        self._cache_ttl, self._cooldown = cache_ttl, refetch_cooldown
        self._min_ttl, self._max_ttl = min(min_ttl, cache_ttl), max(max_ttl, cache_ttl)
        self._clock = clock
        self._keys: tuple[VerificationKey, ...] | None = None  # None: never loaded
        self._index: dict[tuple[str | None, str], VerificationKey] = {}
        self._expires_at = 0.0
        self._last_attempt = float("-inf")
        self._inflight: anyio.Event | None = None
        self._background: asyncio.Task[None] | None = None
        self.fetch_count = 0
        self._static = jwks_uri.startswith(_STATIC)

    @classmethod
    def static(cls, jwks: Mapping[str, Any], *, name: str = "pinned keys") -> JWKSCache:
        """A fixed key set that is never fetched (pinned keys, air-gapped deployments)."""
        cache = cls(_STATIC + name)
        cache._install(parse_jwks(json.dumps(jwks).encode(), where=cache.jwks_uri))
        cache._expires_at = float("inf")
        return cache

    @property
    def loaded(self) -> bool:
        return self._keys is not None

    def _install(self, keys: tuple[VerificationKey, ...]) -> None:
        index: dict[tuple[str | None, str], VerificationKey] = {}
        for alg in KEY_TYPES:
            fitting = [k for k in keys if k.fits(alg)]
            if len(fitting) == 1:  # no kid in the token: only an unambiguous key will do
                index[(None, alg)] = fitting[0]
            for k in reversed(fitting):  # first key of the set wins on duplicate kids
                if k.kid is not None:
                    index[(k.kid, alg)] = k
        self._keys, self._index = keys, index

    def peek(self, kid: str | None, alg: str) -> Any:
        """The cached key when it is fresh, else ``None`` (then call :meth:`key`)."""
        found = self._index.get((kid, alg))
        if found is None or self._clock() >= self._expires_at:
            return None
        return found.key

    async def key(self, kid: str | None, alg: str) -> Any:
        """The key for ``kid``/``alg`` from the cached set, else ``InvalidToken``."""
        found = self._index.get((kid, alg))
        now = self._clock()
        if found is not None:
            if now >= self._expires_at and self._may_fetch(now):
                await self._refresh_in_background()
            return found.key
        if self._inflight is not None:
            await self._inflight.wait()
        elif self._may_fetch(now):
            await self._refresh()
        found = self._index.get((kid, alg))
        if found is not None:
            return found.key
        if self._keys is None:
            reason = "the authorization server's signing keys are unavailable"
            hint = f"the JWKS at {self.jwks_uri} could not be loaded; see the server log"
        else:
            reason = f"no signing key for kid {kid!r} and alg {alg}"
            hint = "the token was not signed by a current key of the configured issuer"
        raise InvalidToken(reason, requirement="S-19", hint=hint)

    def _may_fetch(self, now: float) -> bool:
        return (
            not self._static
            and self._inflight is None
            and now - self._last_attempt >= self._cooldown
        )

    async def _refresh_in_background(self) -> None:
        """Start one refresh and return at once: a slow endpoint never delays a cached key (B5)."""
        done = self._claim()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio: a system task (bounded by the fetch timeout)
            import trio  # optional dependency: only reached when trio is running

            trio.lowlevel.spawn_system_task(self._run, done)
            return
        self._background = loop.create_task(self._run(done))

    async def _refresh(self) -> None:
        done = self._claim()
        with anyio.CancelScope(shield=True):  # shared by every waiter; bounded by the timeout
            await self._run(done)

    def _claim(self) -> anyio.Event:
        """Mark a fetch as started (synchronously: no second fetch can start meanwhile)."""
        self._inflight = anyio.Event()
        self._last_attempt = self._clock()
        self.fetch_count += 1
        return self._inflight

    async def _run(self, done: anyio.Event) -> None:
        try:
            keys, ttl = await self._fetch()
        except Exception as exc:  # any failure keeps the old keys
            cached = "keeping the cached keys" if self._keys is not None else None
            state = cached or "no keys cached: refusing every token (fail closed)"
            log.error("JWKS fetch from %s failed (%r); %s", self.jwks_uri, exc, state)
        else:
            self._install(keys)
            self._expires_at = self._clock() + ttl
            log.info(
                "JWKS loaded from %s: %d key(s), cached for %.0f s", self.jwks_uri, len(keys), ttl
            )
        finally:
            self._inflight = None
            done.set()

    async def _fetch(self) -> tuple[tuple[VerificationKey, ...], float]:
        response = await self._wire.fetch(
            HTTPRequest.get(self.jwks_uri, "jwks_uri", cacheable=False)
        )
        if response.status != 200:
            raise ValueError(response.error or f"HTTP {response.status}")
        control = list(response.header_list("cache-control"))
        keys = parse_jwks(response.body, where=self.jwks_uri)
        if not keys:
            raise ValueError("the JWK Set holds no usable signature key")
        # RFC 9111 §5.2.2: max-age within [min_ttl, max_ttl]; no-store/no-cache/bad max-age: min_ttl
        return keys, cache_control.ttl(control, self._cache_ttl, self._min_ttl, self._max_ttl)

    async def aclose(self) -> None:
        """Cancel a background refresh (each fetch closes its own connection)."""
        task, self._background = self._background, None
        if task is not None and not task.done():
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task})
        if self._inflight is not None:  # a task cancelled before it ran never sets its event
            self._inflight.set()
            self._inflight = None
