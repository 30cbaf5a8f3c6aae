"""Signing keys and access tokens of the dev authorization server.

Access tokens are RFC 9068 JWTs (header ``typ: at+jwt``; claims ``iss``, ``sub``, ``aud`` = the
RFC 8707 resource, ``client_id``, ``scope``, ``iat``, ``exp``, ``jti``), signed with a key that is
generated once and persisted (ES256 by default, RS256 available). The public key is served as a
JWKS (RFC 7517).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from zeroauth.devserver._store import DevStore

__all__ = ["SigningKey"]

Alg = Literal["ES256", "RS256"]


class SigningKey:
    """The server's signing key: loaded from the store, or generated and persisted once."""

    def __init__(self, store: DevStore, alg: Alg = "ES256") -> None:
        self.alg = alg
        found = store.signing_key(alg)
        if found is None:
            kid, pem = secrets.token_urlsafe(8), _generate_pem(alg)
            store.add_signing_key(kid, alg, pem)
            kid, pem = store.signing_key(alg) or (kid, pem)  # replicas: the first one added
        else:
            kid, pem = found
        self.kid = kid
        self._private: Any = serialization.load_pem_private_key(pem.encode(), password=None)
        public: Any = self._private.public_key()
        jwk_text = ECAlgorithm.to_jwk(public) if alg == "ES256" else RSAAlgorithm.to_jwk(public)
        public_jwk = json.loads(jwk_text)
        self.public_jwk: dict[str, Any] = {**public_jwk, "kid": kid, "alg": alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

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
        return jwt.encode(
            claims, self._private, algorithm=self.alg, headers={"typ": "at+jwt", "kid": self.kid}
        )

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token this key signed (expired ones too), or None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._private.public_key(),
                algorithms=[self.alg],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        return claims


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
