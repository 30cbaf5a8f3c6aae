"""Checking a received DPoP proof (sans-IO): the resource server's and the token endpoint's side.

Implements RFC 9449 §4.3 (checking a proof: one header, well-formed JWT, typ, alg in the allowed
set and not ``none``/MAC, no private key in ``jwk``, signature, ``htm``/``htu`` against the
request with the URI normalised per RFC 3986 §6.2.2-§6.2.3, ``iat`` within a window, ``nonce``,
``ath``, key = ``cnf.jkt``), §4.2 (the claim values both sides compute: ``htu`` without query
and fragment, ``ath`` = base64url(SHA-256(access token))), §6.1 (``jkt``, RFC 7638 thumbprint),
§9 (a missing or refused nonce: ``use_dpop_nonce``) and §11.1 (a ``jti`` replay cache is the
caller's: :attr:`DPoPProof.jti` and :attr:`DPoPProof.iat` say what to remember and for how
long). Its public names are re-exported by :mod:`zeroauth.core.dpop`, which makes proofs.

Threats: SECURITY G1 (replayed, re-targeted, stale, mis-keyed, unsigned or HMAC'd proofs, private
keys in the header, hostile sizes).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt

from zeroauth.core.dpop_key import SUPPORTED_ALGS, check_key_fits
from zeroauth.core.errors import InvalidDPoPProof, InvalidInput, UseDPoPNonce
from zeroauth.core.jwk import b64url, check_public_jwk, jwk_thumbprint
from zeroauth.core.tokens import load_json_object

__all__ = [
    "MAX_NONCE",
    "PROOF_TYPE",
    "DPoPProof",
    "access_token_hash",
    "htu",
    "validate_proof",
]

PROOF_TYPE = "dpop+jwt"
MAX_PROOF = 8192  # characters of the DPoP header: an RSA-4096 proof is ~1.6 KB
MAX_JTI = 256
MAX_NONCE = 1024
MAX_HEADER_MEMBERS = 8
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §9.1: method = token
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_ALGORITHMS = jwt.algorithms.get_default_algorithms()
_PERCENT = re.compile(r"%([0-9a-fA-F]{2})")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A validated proof: the key's thumbprint (``jkt``) and the claims that matter."""

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: int
    alg: str
    jwk: Mapping[str, str] = field(repr=False)
    nonce: str | None = None
    ath: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


def htu(url: str) -> str:
    """The ``htu`` of ``url``: scheme and host lowercased, default port and query/fragment dropped.

    RFC 9449 §4.2 (no query, no fragment) and §4.3 (RFC 3986 §6.2.2 syntax-based and §6.2.3
    scheme-based normalisation). An empty path becomes ``/``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(
            "not a URL", where="htu", expected="an absolute http(s) URL", found=url
        ) from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or not host:
        raise InvalidInput(
            "not an absolute http(s) URL",
            where="htu",
            expected="http:// or https:// with a host",
            found=url,
        )
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{_normal_path(parts.path)}"


@functools.lru_cache(maxsize=256)
def _request_htu(url: str) -> str:
    """``htu(url)`` for the server's own request URLs: a handful, normalised once each."""
    return htu(url)


def _normal_path(path: str) -> str:
    """RFC 3986 §6.2.2.1-§6.2.2.3: %XX upper-cased, unreserved decoded, dot segments removed."""
    path = _PERCENT.sub(_percent, path)
    out: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    normal = "/" + "/".join(out)
    if path.endswith(("/.", "/..")) and not normal.endswith("/"):
        normal += "/"
    return normal


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if _UNRESERVED.fullmatch(char) else match.group().upper()


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII access token)) (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def _invalid(message: str, *, expected: object = None, found: object = None) -> InvalidDPoPProof:
    error = InvalidDPoPProof(
        f"DPoP proof refused: {message}",
        requirement="G1",
        hint="send a fresh DPoP proof made for this request (RFC 9449 §4.3)",
    )
    error.expected, error.found = expected, found  # shown by str(); never in the challenge
    return error


def _segment_json(segment: str, what: str) -> dict[str, Any]:
    """A base64url JSON object, strictly: no duplicate members (RFC 7515 §4), no NaN/Infinity."""
    try:
        raw = jwt.utils.base64url_decode(segment.encode("ascii"))
        return load_json_object(raw, where=f"DPoP proof {what}", what=what)
    except (ValueError, TypeError):
        raise _invalid(f"the {what} is not base64url JSON") from None
    except InvalidInput as exc:
        raise _invalid(f"the {what} is not a JSON object without duplicates",
                       found=exc.found) from None  # fmt: skip


def validate_proof(
    proof: str | Sequence[str] | None,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    allowed_algs: Iterable[str] = SUPPORTED_ALGS,
    max_age: float = 300.0,
    leeway: float = 60.0,
    nonce: str | Callable[[str], bool] | None = None,
) -> DPoPProof:
    """Check a ``DPoP`` header against one request (RFC 9449 §4.3); the caller checks ``jti``.

    ``url`` is the request's URI as the server sees it (the query is ignored); ``access_token``
    requires a matching ``ath`` (§7.1 checks 10-11); ``expected_jkt`` is the token's ``cnf.jkt``;
    ``iat`` must lie in ``[now - max_age - leeway, now + leeway]``; ``nonce`` is the expected
    value or a predicate over it (a missing or refused nonce raises :class:`UseDPoPNonce`).
    Every other refusal raises :class:`InvalidDPoPProof`.
    """
    if proof is None or not isinstance(proof, str):
        values = list(proof or ())
        if len(values) != 1:
            raise _invalid("exactly one DPoP header is allowed", expected=1, found=len(values))
        proof = values[0]
    if len(proof) > MAX_PROOF or not _COMPACT.fullmatch(proof):
        raise _invalid(
            "not a compact JWS",
            expected=f"header.payload.signature <= {MAX_PROOF}",
            found=f"{len(proof)} chars",
        )
    header_segment, payload_segment, signature_segment = proof.split(".")
    allowed = tuple(a for a in allowed_algs if a in SUPPORTED_ALGS)  # never none or HS*
    alg, jwk, key, jkt = _checked_header(header_segment)
    if alg not in allowed:
        raise _invalid("alg not allowed", expected=" ".join(allowed), found=alg)
    signing_input = proof[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    try:
        signature = jwt.utils.base64url_decode(signature_segment.encode("ascii"))
        valid = _ALGORITHMS[alg].verify(signing_input, key, signature)
    except (jwt.PyJWTError, ValueError, TypeError):
        valid = False
    if not valid:
        raise _invalid("the signature does not verify with the jwk")
    claims = _segment_json(payload_segment, "payload")
    return _check_claims(
        claims, alg, jwk, jkt, method, url, now, access_token, expected_jkt, max_age, leeway,
        nonce,
    )  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _checked_header(segment: str) -> tuple[str, Mapping[str, str], Any, str]:
    """(alg, public jwk, verification key, RFC 7638 thumbprint) of a proof's JOSE header, checked
    (typ, an asymmetric alg, no key references, a public jwk that fits alg). A client sends the
    same header with every proof, so each is checked once; bounded (a flood of headers only
    evicts), and refusals are never cached."""
    header = _segment_json(segment, "JOSE header")
    if header.get("typ") != PROOF_TYPE:
        raise _invalid("wrong typ", expected=PROOF_TYPE, found=header.get("typ"))
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in SUPPORTED_ALGS:
        raise _invalid("alg not allowed", expected=" ".join(SUPPORTED_ALGS), found=alg)
    if (
        len(header) > MAX_HEADER_MEMBERS
        or {"jku", "x5u", "x5c", "kid", "crit", "b64"} & header.keys()
    ):
        raise _invalid(
            "unexpected JOSE header members", expected="typ, alg, jwk", found=sorted(header)
        )
    try:
        jwk = check_public_jwk(header.get("jwk"), where="DPoP proof jwk")
        check_key_fits(jwk, alg, where="DPoP proof jwk")
        key, jkt = _public_key(json.dumps({m: jwk[m] for m in sorted(jwk)}), alg)
    except InvalidInput as exc:
        raise _invalid(exc.message, expected=exc.expected, found=exc.found) from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _invalid("the jwk is not a usable public key") from None
    return alg, jwk, key, jkt


@functools.lru_cache(maxsize=1024)
def _public_key(jwk_json: str, alg: str) -> tuple[Any, str]:
    """The verification key and RFC 7638 thumbprint of a checked public JWK: built once per key
    (a client signs every request with the same one); bounded, so a flood of keys only evicts."""
    jwk = json.loads(jwk_json)
    return jwt.PyJWK(jwk, algorithm=alg).key, jwk_thumbprint(jwk)


def _check_claims(
    claims: dict[str, Any],
    alg: str,
    jwk: Mapping[str, str],
    jkt: str,
    method: str,
    url: str,
    now: float,
    access_token: str | None,
    expected_jkt: str | None,
    max_age: float,
    leeway: float,
    nonce: str | Callable[[str], bool] | None,
) -> DPoPProof:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise _invalid("jti missing or too long", expected=f"1..{MAX_JTI} characters")
    htm = claims.get("htm")
    if not isinstance(htm, str) or htm != method.upper() or not _METHOD.fullmatch(htm):
        raise _invalid("htm does not match the request method", expected=method.upper(), found=htm)
    claimed = claims.get("htu")
    if not isinstance(claimed, str) or len(claimed) > MAX_PROOF:
        raise _invalid("htu missing", expected="the request URI")
    if "?" in claimed or "#" in claimed:
        raise _invalid("htu has a query or fragment", expected="no query or fragment (§4.2)")
    expected = _request_htu(url)
    try:  # a client that sends the normalised form (ours does) matches without re-parsing
        matches = claimed == expected or htu(claimed) == expected
    except InvalidInput:
        matches = False
    if not matches:
        raise _invalid("htu does not match the request URI", expected=expected, found=claimed)
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise _invalid("iat missing", expected="a NumericDate")
    if not now - max_age - leeway <= iat <= now + leeway:
        raise _invalid(
            "iat outside the accepted window",
            expected=f"within {max_age:g}s of now",
            found=f"{iat - now:+.0f}s",
        )
    sent_nonce = claims.get("nonce")
    if sent_nonce is not None and (not isinstance(sent_nonce, str) or len(sent_nonce) > MAX_NONCE):
        raise _invalid("nonce malformed", expected=f"a string of at most {MAX_NONCE} characters")
    if nonce is not None:
        ok = sent_nonce is not None and (
            nonce(sent_nonce) if callable(nonce) else secrets.compare_digest(sent_nonce, nonce)
        )
        if not ok:
            raise UseDPoPNonce(
                "a fresh server-provided DPoP nonce is required (RFC 9449 §9)", requirement="G1"
            )
    ath = claims.get("ath")
    expected_ath = None if access_token is None else access_token_hash(access_token)
    if expected_ath is not None and not (
        isinstance(ath, str) and secrets.compare_digest(ath, expected_ath)
    ):
        raise _invalid("ath does not match the access token", expected="SHA-256 of the token")
    if expected_jkt is not None and not secrets.compare_digest(jkt, expected_jkt):
        raise _invalid("the proof key is not the key the token is bound to (cnf.jkt)")
    return DPoPProof(
        jkt=jkt,
        jti=jti,
        htm=htm,
        htu=claimed,
        iat=int(iat),
        alg=alg,
        jwk=jwk,
        nonce=sent_nonce,
        ath=ath if isinstance(ath, str) else None,
        claims=claims,
    )
