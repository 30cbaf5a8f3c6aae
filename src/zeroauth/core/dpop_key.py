"""DPoP key pairs: generation, PEM round-trip, and whether a key fits an algorithm.

Implements RFC 9449 §4.2 (an asymmetric key; the public part travels as ``jwk``), RFC 7518 §3.3-
§3.5 (RS*/PS* with 2048-bit or larger RSA keys, ES256/384/512 on P-256/384/521), RFC 8037 §3.1
(EdDSA on Ed25519) and RFC 7638 (the key's thumbprint, ``cnf.jkt`` in RFC 9449 §6.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from zeroauth.core.client_auth import infer_signing_alg
from zeroauth.core.errors import InvalidInput
from zeroauth.core.jwk import jwk_thumbprint, public_jwk

__all__ = ["DEFAULT_ALG", "SUPPORTED_ALGS", "DPoPKey", "check_key_fits"]

DEFAULT_ALG = "ES256"
SUPPORTED_ALGS = (
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
)
_CURVES = {"ES256": ("P-256",), "ES384": ("P-384",), "ES512": ("P-521",), "EdDSA": ("Ed25519",)}
_KTY = {"ES": "EC", "Ed": "OKP", "RS": "RSA", "PS": "RSA"}
_GENERATORS: dict[str, Callable[[], Any]] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
    **{
        f"{family}{bits}": lambda: rsa.generate_private_key(65537, 2048)
        for family in ("RS", "PS")
        for bits in (256, 384, 512)
    },
}


@dataclass(frozen=True, slots=True)
class DPoPKey:
    """A client's DPoP key pair: the private key, its ``alg``, public JWK and thumbprint."""

    private_key: Any = field(repr=False)
    alg: str
    jwk: Mapping[str, str]
    thumbprint: str

    @classmethod
    def generate(cls, alg: str = DEFAULT_ALG) -> DPoPKey:
        """A fresh key for ``alg`` (ES256 by default; RSA keys are 2048-bit)."""
        if alg not in _GENERATORS:
            raise InvalidInput(
                "unsupported DPoP algorithm",
                where="DPoP key",
                expected=", ".join(SUPPORTED_ALGS),
                found=alg,
            )
        return cls.from_private_key(_GENERATORS[alg](), alg)

    @classmethod
    def from_private_key(cls, key: Any, alg: str | None = None) -> DPoPKey:
        """Wrap a ``cryptography`` private key or PEM text; ``alg`` inferred when omitted."""
        if isinstance(key, str | bytes):
            data = key.encode("ascii") if isinstance(key, str) else key
            key = serialization.load_pem_private_key(data, None)
        alg = alg or infer_signing_alg(key, where="DPoP key")
        jwk = public_jwk(key)
        check_key_fits(jwk, alg, where="DPoP key")
        return cls(private_key=key, alg=alg, jwk=jwk, thumbprint=jwk_thumbprint(jwk))

    def to_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM (for the token store)."""
        return str(
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii")
        )


def check_key_fits(jwk: Mapping[str, str], alg: str, *, where: str) -> None:
    """The JWK type and curve fit ``alg`` (RFC 7518 §3.4, RFC 8037 §3.1)."""
    kty = _KTY.get(alg[:2])
    curve = jwk.get("crv")
    if jwk.get("kty") != kty or (alg in _CURVES and curve not in _CURVES[alg]):
        raise InvalidInput(
            "the key does not fit the algorithm",
            where=where,
            expected=f"a {kty} key for {alg}",
            found=f"{jwk.get('kty')} {curve}",
        )
    if kty == "RSA" and len(jwk["n"]) < 342:  # 2048 bits = 342 base64url characters
        raise InvalidInput("RSA key shorter than 2048 bits", where=where, expected="2048+ bits")
