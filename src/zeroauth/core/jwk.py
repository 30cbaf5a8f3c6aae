"""Public JSON Web Keys: export, checks and thumbprints.

Implements RFC 7517 §4 (JWK members; a public JWK carries no private members: RFC 7518 §6.2.2,
§6.3.2, §6.4 and RFC 8037 §2 ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``, and a
symmetric ``k``), RFC 7638 §3 (the JWK thumbprint: the required members only, in lexicographic
order, no whitespace, SHA-256, base64url without padding) and RFC 9449 §6.1 (``cnf.jkt``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from zeroauth.core.errors import InvalidInput

__all__ = ["PRIVATE_MEMBERS", "b64url", "check_public_jwk", "jwk_thumbprint", "public_jwk"]

PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_REQUIRED = {  # RFC 7638 §3.2 (EC, RSA), RFC 8037 §2 (OKP)
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_MAX_MEMBER = 2048  # characters; a 8192-bit RSA modulus is 1366 base64url characters


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: Any) -> Mapping[str, str]:
    """The public JWK (required members only) of a ``cryptography`` private or public key."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        data = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        data = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise InvalidInput(
            "not an asymmetric key",
            where="DPoP key",
            expected="an EC (P-256/384/521), RSA or Ed25519 key",
            found=type(key).__name__,
        )
    return MappingProxyType({name: data[name] for name in _REQUIRED[data["kty"]]})


def check_public_jwk(jwk: object, *, where: str) -> Mapping[str, str]:
    """The members of an untrusted public JWK; refuses private or symmetric keys (RFC 9449 §4.2)."""
    if not isinstance(jwk, Mapping):
        raise InvalidInput("jwk is not a JSON object", where=where, expected="a public JWK")
    private = sorted(PRIVATE_MEMBERS.intersection(jwk))
    if private:
        raise InvalidInput(
            "jwk carries private key material",
            where=where,
            expected="a public key only (RFC 9449 §4.2)",
            found=", ".join(private),
        )
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _REQUIRED:
        raise InvalidInput("unsupported jwk kty", where=where, expected="EC, RSA or OKP", found=kty)
    for name in _REQUIRED[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or not value or len(value) > _MAX_MEMBER:
            raise InvalidInput(
                f"jwk member {name} is missing or malformed",
                where=where,
                expected=f"a string of at most {_MAX_MEMBER} characters",
                found=type(value).__name__ if not isinstance(value, str) else f"{len(value)} chars",
            )
    return jwk


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3 SHA-256 thumbprint of a public JWK, base64url (the ``cnf.jkt`` value)."""
    members = check_public_jwk(jwk, where="jwk thumbprint")
    canonical = {name: members[name] for name in _REQUIRED[members["kty"]]}
    text = json.dumps(canonical, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())
