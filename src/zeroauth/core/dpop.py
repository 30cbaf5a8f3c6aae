"""DPoP: proof-of-possession proofs for OAuth requests (sans-IO).

Implements RFC 9449 §4.2 (making a proof: a JWS with ``typ=dpop+jwt``, an asymmetric ``alg``,
the public ``jwk``; claims ``jti``, ``htm``, ``htu`` without query and fragment, ``iat``,
``ath`` = base64url(SHA-256(access token)) on resource requests, ``nonce``), §7.1 (the ``DPoP``
scheme, its ``algs`` challenge parameter) and §8/§9 (``use_dpop_nonce`` and the ``DPoP-Nonce``
header, nonce = 1*NQCHAR). SEP-1932 (DPoP for MCP). Challenge parsing reuses
:mod:`zeroauth.core.challenge`. Checking a received proof (§4.3, §6.1 ``jkt``, §11.1) lives in
``zeroauth.core._dpop_check``; its names (``validate_proof``, ``DPoPProof``, ``htu``,
``access_token_hash``) are importable from here.

Threats: SECURITY G1 (replayed, re-targeted, stale, mis-keyed, unsigned or HMAC'd proofs, private
keys in the header, hostile sizes), G2 (a bound token sent as Bearer: the resource server's).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from zeroauth.core._dpop_check import (
    MAX_NONCE,
    PROOF_TYPE,
    DPoPProof,
    access_token_hash,
    htu,
    validate_proof,
)
from zeroauth.core.challenge import build_challenge, read_challenge
from zeroauth.core.dpop_key import DEFAULT_ALG, SUPPORTED_ALGS, DPoPKey
from zeroauth.core.scopes import is_scope_token

__all__ = [
    "DEFAULT_ALG",
    "PROOF_TYPE",
    "SUPPORTED_ALGS",
    "DPoPChallenge",
    "DPoPKey",
    "DPoPProof",
    "access_token_hash",
    "dpop_challenge_header",
    "htu",
    "make_proof",
    "read_dpop_challenge",
    "read_dpop_nonce",
    "validate_proof",
]


@dataclass(frozen=True, slots=True)
class DPoPChallenge:
    """A ``DPoP`` challenge (RFC 9449 §7.1) as a client reads it."""

    algs: tuple[str, ...] = ()
    error: str | None = None
    error_description: str | None = None
    resource_metadata: str | None = None
    scope: tuple[str, ...] | None = None
    realm: str | None = None


def make_proof(
    key: DPoPKey,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    nonce: str | None = None,
    jti: str | None = None,
) -> str:
    """A fresh proof for one request (RFC 9449 §4.2); ``access_token`` adds ``ath`` (§7)."""
    claims: dict[str, Any] = {
        "jti": jti or secrets.token_urlsafe(24),
        "htm": method.upper(),
        "htu": htu(url),
        "iat": int(now),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    headers = {"typ": PROOF_TYPE, "alg": key.alg, "jwk": dict(key.jwk)}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def dpop_challenge_header(
    *,
    algs: Iterable[str] = (DEFAULT_ALG,),
    error: str | None = None,
    error_description: str | None = None,
    resource_metadata: str | None = None,
    realm: str | None = None,
    scope: Iterable[str] = (),
) -> str:
    """A ``DPoP`` challenge (RFC 9449 §7.1): ``algs`` (space-separated, only algorithms it can
    verify: never ``none`` or HS*), then the RFC 6750-style ``error``/``error_description``,
    ``scope`` (the scopes an operation needs, for step-up) and RFC 9728 ``resource_metadata``;
    values escaped by :func:`build_challenge` (ValueError on CR/LF or a bad scope token). Sent
    alongside ``Bearer`` when both schemes are accepted (§7.2)."""
    names = [a for a in dict.fromkeys(algs) if a in SUPPORTED_ALGS]
    tokens = list(dict.fromkeys(scope))
    if not all(is_scope_token(t) for t in tokens):  # RFC 6750 §3 scope-token
        raise ValueError(f"invalid scope token in {tokens!r}")
    params = {"realm": realm, "algs": " ".join(names) or None, "error": error}
    params["error_description"] = error_description if error else None
    params["scope"] = " ".join(tokens) or None
    params["resource_metadata"] = resource_metadata
    return build_challenge("DPoP", {k: v for k, v in params.items() if v})


def read_dpop_challenge(values: str | Iterable[str] | None) -> DPoPChallenge | None:
    """The first ``DPoP`` challenge of a ``WWW-Authenticate`` header, leniently; None if none."""
    challenge = read_challenge(values, "dpop")
    if challenge is None:
        return None
    algs = tuple(a for a in (challenge.get("algs") or "").split(" ") if a)
    scope = tuple(dict.fromkeys(t for t in (challenge.get("scope") or "").split(" ") if t))
    return DPoPChallenge(
        algs=algs,
        error=challenge.get("error") or None,
        error_description=challenge.get("error_description"),
        resource_metadata=challenge.get("resource_metadata") or None,
        scope=scope or None,
        realm=challenge.get("realm"),
    )


def read_dpop_nonce(value: str | None) -> str | None:
    """A ``DPoP-Nonce`` header value (RFC 9449 §8.1: 1*NQCHAR), or None when absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_NONCE or not is_scope_token(value):  # NQCHAR is the scope-token set
        return None
    return value
