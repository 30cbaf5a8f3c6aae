"""DPoP at the resource server: sender-constrained access tokens (RFC 9449 §7, SEP-1932).

What ``BearerAuth(dpop=DPoP(...))`` checks on a request with ``Authorization: DPoP <token>``:
the token itself (the verifier, as for Bearer), that it is bound (``cnf.jkt``, RFC 9449 §6),
exactly one ``DPoP`` proof valid for this request (``zeroauth.core.dpop.validate_proof``: typ,
alg, public jwk, signature, ``htm``, ``htu``, ``iat`` window, ``ath`` = the token's hash, key =
``cnf.jkt``, the server nonce when configured), and that its ``jti`` was not seen before within
the window (§11.1, :class:`ReplayCache`). A bound token sent as ``Bearer`` is refused (§7.1),
with or without this option.

Decisions:
- ``htu`` is compared with the URL the client addressed: the configured ``resource``'s origin
  plus the request path, never the ``Host`` or forwarded headers (a proxy cannot change what is
  checked, and nothing is trusted from the request; the same rule as ``resource_metadata``).
- The replay cache is in memory and bounded: entries live ``max_age + 2 * leeway`` seconds (after
  that ``iat`` alone refuses the proof); at most ``per_key`` live entries per key and ``capacity``
  overall, so one client flooding proofs is refused (fails closed) without evicting anybody
  else's entries. Replicas behind a load balancer need a shared cache (any object with ``seen``).
- Nonces (§9), when ``nonce_secret`` is set, are stateless: ``time-window.HMAC`` (so every replica
  with the secret accepts them), valid for the current and the previous window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from zeroauth.core.dpop import SUPPORTED_ALGS, DPoPProof, validate_proof
from zeroauth.core.errors import InvalidDPoPProof

__all__ = ["DPoP", "MemoryReplayCache", "NonceSource", "RedisReplayCache", "ReplayCache"]


class ReplayCache(Protocol):
    """Remembers proofs (RFC 9449 §11.1). ``seen`` records ``proof`` and says whether it was
    already there; it raises ``InvalidDPoPProof`` when it cannot remember (full)."""

    def seen(self, proof: DPoPProof, *, now: float, ttl: float) -> bool: ...


def _replay_key(proof: DPoPProof) -> bytes:
    """What identifies a proof for replay detection: its ``jti`` under its key (§11.1)."""
    return hashlib.sha256(f"{proof.jkt}\x00{proof.jti}".encode()).digest()[:16]


class MemoryReplayCache:
    """A bounded in-memory replay cache (see the module docstring)."""

    def __init__(self, *, capacity: int = 200_000, per_key: int = 20_000) -> None:
        self._capacity, self._per_key = capacity, per_key
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()  # insertion = expiry
        self._per_jkt: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (expires, jkt) = next(iter(entries.items()))
            if expires > now:
                return
            del entries[key]
            left = self._per_jkt[jkt] - 1
            if left:
                self._per_jkt[jkt] = left
            else:
                del self._per_jkt[jkt]

    def seen(self, proof: DPoPProof, *, now: float, ttl: float) -> bool:
        self._purge(now)
        key = _replay_key(proof)
        if key in self._entries:
            return True
        count = self._per_jkt.get(proof.jkt, 0)
        if count >= self._per_key or len(self._entries) >= self._capacity:
            raise InvalidDPoPProof("too many DPoP proofs in the replay window; retry later")
        self._entries[key] = (now + ttl, proof.jkt)
        self._per_jkt[proof.jkt] = count + 1
        return False


class RedisReplayCache:
    """A replay cache shared by every replica of a resource server (RFC 9449 §11.1), on Redis:
    one ``SET key 1 NX PX ttl`` per proof (a loopback round trip, ~0.1 ms, made synchronously).
    Keys are ``prefix`` + a digest of (key thumbprint, ``jti``); they expire by themselves.
    Redis unreachable: the proof is refused (fail closed), with the reason."""

    def __init__(self, client: Any, *, prefix: str = "zeroauth:dpop:") -> None:
        self._client, self._prefix = client, prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "zeroauth:dpop:") -> RedisReplayCache:
        """``redis://`` / ``rediss://`` (TLS) URL; needs the ``redis`` extra."""
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2.0), prefix=prefix)

    def seen(self, proof: DPoPProof, *, now: float, ttl: float) -> bool:
        key = self._prefix + _replay_key(proof).hex()
        try:
            added = self._client.set(key, b"1", nx=True, px=max(1, int(ttl * 1000)))
        except Exception as exc:  # redis.RedisError and socket errors: fail closed
            raise InvalidDPoPProof(
                f"the DPoP replay cache is unavailable ({type(exc).__name__}); retry later"
            ) from None
        return not added


class NonceSource:
    """Stateless server nonces (RFC 9449 §9): ``window.HMAC-SHA256(secret, window)``."""

    def __init__(
        self, secret: bytes, *, lifetime: float = 300.0, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("nonce_secret must be at least 16 bytes")
        self._secret, self._lifetime, self._clock = secret, lifetime, clock

    def _for(self, window: int) -> str:
        mac = hmac.new(self._secret, str(window).encode(), hashlib.sha256).digest()[:18]
        return f"{window}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def current(self) -> str:
        return self._for(int(self._clock() // self._lifetime))

    def valid(self, nonce: str) -> bool:
        window = int(self._clock() // self._lifetime)
        return any(hmac.compare_digest(nonce, self._for(w)) for w in (window, window - 1))


@dataclass(frozen=True)
class DPoP:
    """DPoP options of a resource server (``BearerAuth(dpop=...)``, ``protect(dpop=...)``).

    ``required``: only DPoP-bound tokens (the PRM says ``dpop_bound_access_tokens_required``);
    otherwise Bearer and DPoP are both accepted. ``algs``: proof algorithms accepted (advertised
    as ``dpop_signing_alg_values_supported`` and in the challenge). ``max_age`` / ``leeway``: the
    ``iat`` window in seconds. ``nonce_secret``: turn on server nonces.
    """

    required: bool = False
    algs: Sequence[str] = SUPPORTED_ALGS
    max_age: float = 300.0
    leeway: float = 60.0
    replay: ReplayCache = field(default_factory=MemoryReplayCache)
    nonce_secret: bytes | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.time
    nonces: NonceSource | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = [a for a in self.algs if a not in SUPPORTED_ALGS]
        if unknown or not self.algs:
            raise ValueError(f"DPoP algs must be a non-empty subset of {SUPPORTED_ALGS}")
        nonces = NonceSource(self.nonce_secret, clock=self.clock) if self.nonce_secret else None
        object.__setattr__(self, "nonces", nonces)

    def metadata(self) -> dict[str, object]:
        """The RFC 9728 §2 members that announce this policy in the PRM document."""
        return {
            "dpop_signing_alg_values_supported": list(self.algs),
            "dpop_bound_access_tokens_required": self.required,
        }

    def check(
        self, proofs: Sequence[str], *, method: str, url: str, token: str, jkt: str
    ) -> DPoPProof:
        """The validated, first-seen proof of this request, or ``InvalidDPoPProof`` /
        ``UseDPoPNonce`` (RFC 9449 §7.1, §9, §11.1)."""
        now = self.clock()
        proof = validate_proof(
            list(proofs), method=method, url=url, now=now, access_token=token,
            expected_jkt=jkt, allowed_algs=self.algs, max_age=self.max_age, leeway=self.leeway,
            nonce=self.nonces.valid if self.nonces else None,
        )  # fmt: skip
        if self.replay.seen(proof, now=now, ttl=self.max_age + 2 * self.leeway):
            raise InvalidDPoPProof("the DPoP proof was already used (replay)")
        return proof
