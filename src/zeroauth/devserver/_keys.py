"""Signing keys and access tokens of the dev authorization server.

Access tokens are RFC 9068 JWTs (header ``typ: at+jwt``; claims ``iss``, ``sub``, ``aud`` = the
RFC 8707 resource, ``client_id``, ``scope``, ``iat``, ``exp``, ``jti``), signed with a key that is
generated once and persisted (ES256 by default, RS256 available). The public keys are served as
a JWKS (RFC 7517). Keys may rotate with overlap (RFC 7517 §5 key sets; RFC 9068 §4 resource
servers select the key by ``kid``): a new key is announced before it signs and an old one is kept
until every token it signed has expired.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from zeroauth.devserver._store import DevStore, KeyRecord

__all__ = ["RETAIN_MARGIN", "SigningKey"]

RETAIN_MARGIN = 600.0  # seconds a retired key outlives the longest access-token lifetime

Alg = Literal["ES256", "RS256"]


class SigningKey:
    """The server's signing keys: loaded from the store, or generated and persisted once.

    With ``rotation`` (seconds) a new key is made when the active one is that old: it is
    published in the JWKS ``lead`` seconds before it signs (so verifiers caching the JWKS have
    it by then), and the previous key stays in the JWKS ``retain`` seconds after its last
    token (the longest access-token lifetime plus a margin), then is dropped. Replicas sharing
    the store agree: a generation is written once (``add_rotation_key`` keeps the first), and
    every replica reads the key set back before signing with it. ``clock`` is injectable.
    """

    def __init__(
        self,
        store: DevStore,
        alg: Alg = "ES256",
        *,
        rotation: float | None = None,
        retain: float = 3600 + RETAIN_MARGIN,
        clock: Callable[[], float] = time.time,
        recheck: float = 300.0,
    ) -> None:
        if rotation is not None and rotation <= 0:
            raise ValueError("key rotation period must be positive (seconds), or None for none")
        self.alg = alg
        self.rotation = rotation
        self.retain = retain
        self.lead = 0.0 if rotation is None else min(rotation / 4, 3600.0)
        self._store, self._clock, self._recheck = store, clock, recheck
        self._lock = threading.Lock()
        self._next_check = float("-inf")
        self._loaded_at = float("-inf")
        self._keys: tuple[_Loaded, ...] = ()
        self._active: _Loaded | None = None
        self._sync()

    # -- the key set ---------------------------------------------------------------------
    def _sync(self, *, force: bool = False) -> _Loaded:
        """The active key, after reading (and if due, rotating or pruning) the stored set."""
        now = self._clock()
        with self._lock:
            if self._active is not None and not force and now < self._next_check:
                return self._active
            records = self._store.signing_keys(self.alg)
            if not records:  # first start, or a store written before rotation existed
                legacy = self._store.signing_key(self.alg)
                kid, pem = legacy or (secrets.token_urlsafe(8), _generate_pem(self.alg))
                self._store.add_rotation_key(self.alg, KeyRecord(0, kid, pem, now))
                records = self._store.signing_keys(self.alg)
            newest = records[-1]
            if self.rotation is not None and now >= newest.not_before + self.rotation - self.lead:
                successor = KeyRecord(
                    newest.generation + 1,
                    secrets.token_urlsafe(8),
                    _generate_pem(self.alg),
                    max(newest.not_before + self.rotation, now),
                )
                self._store.add_rotation_key(self.alg, successor)  # one per generation
                records = self._store.signing_keys(self.alg)  # the winner's, on every replica
            records = self._prune(records, now)
            self._keys = tuple(self._load(r) for r in records)
            signing = [k for k in self._keys if k.record.not_before <= now] or [self._keys[0]]
            self._active = signing[-1]
            self._loaded_at = now
            self._next_check = min(self._events(records, now), now + self._recheck)
            return self._active

    def _prune(self, records: list[KeyRecord], now: float) -> list[KeyRecord]:
        """Drop keys whose every token has expired (their successor signs for ``retain``)."""
        kept = []
        for record, successor in zip(records, [*records[1:], None], strict=True):
            if successor is not None and now >= successor.not_before + self.retain:
                self._store.drop_rotation_key(self.alg, record.generation)
            else:
                kept.append(record)
        return kept

    def _events(self, records: list[KeyRecord], now: float) -> float:
        """When the key set next changes: a key starts signing, rotation is due, one retires."""
        times = [r.not_before for r in records if r.not_before > now]
        times += [r.not_before + self.retain for r in records[1:]]
        if self.rotation is not None:
            times.append(records[-1].not_before + self.rotation - self.lead)
        return min((t for t in times if t > now), default=float("inf"))

    def _load(self, record: KeyRecord) -> _Loaded:
        for known in self._keys:
            if known.record.generation == record.generation and known.record.kid == record.kid:
                return known
        return _Loaded(record, self.alg)

    @property
    def kid(self) -> str:
        return self._sync().record.kid

    @property
    def public_jwk(self) -> dict[str, Any]:
        return self._sync().public_jwk

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 §5: every key a live token may carry (the active one, its announced
        successor, and predecessors still within ``retain``)."""
        self._sync()
        return {"keys": [k.public_jwk for k in self._keys]}

    def mint_access_token(
        self,
        *,
        issuer: str,
        subject: str,
        client_id: str,
        audience: str | None,
        scopes: Iterable[str],
        lifetime: int,
        now: float | None = None,
        jti: str | None = None,
        act: Mapping[str, Any] | None = None,
        cnf: Mapping[str, Any] | None = None,
    ) -> str:
        """An RFC 9068 access token; ``aud`` is the resource it was requested for; ``act`` the
        delegation chain of an exchanged token (RFC 8693 §4.1)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "client_id": client_id,
            "iat": issued,
            "exp": issued + lifetime,
            "jti": jti or secrets.token_urlsafe(16),
        }
        if audience is not None:
            claims["aud"] = audience
        scope = " ".join(scopes)
        if scope:
            claims["scope"] = scope
        if act is not None:
            claims["act"] = dict(act)
        if cnf is not None:
            claims["cnf"] = dict(cnf)  # RFC 9449 §6.1: bound to this key
        active = self._sync()
        return jwt.encode(
            claims,
            active.private,
            algorithm=self.alg,
            headers={"typ": "at+jwt", "kid": active.record.kid},
        )

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token one of the live keys signed (expired ones too), or
        None. A ``kid`` not known yet re-reads the store (another replica may have rotated)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, ValueError):
            return None
        self._sync()
        found = next((k for k in self._keys if k.record.kid == kid), None)
        if found is None and self._clock() - self._loaded_at >= 1.0:
            self._sync(force=True)
            found = next((k for k in self._keys if k.record.kid == kid), None)
        if found is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                found.private.public_key(),
                algorithms=[self.alg],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        return claims


class _Loaded:
    """A stored key, parsed once."""

    def __init__(self, record: KeyRecord, alg: Alg) -> None:
        self.record = record
        self.private: Any = serialization.load_pem_private_key(record.pem.encode(), None)
        public: Any = self.private.public_key()
        text = ECAlgorithm.to_jwk(public) if alg == "ES256" else RSAAlgorithm.to_jwk(public)
        self.public_jwk: dict[str, Any] = {
            **json.loads(text),
            "kid": record.kid,
            "alg": alg,
            "use": "sig",
        }


def _generate_pem(alg: Alg) -> str:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
