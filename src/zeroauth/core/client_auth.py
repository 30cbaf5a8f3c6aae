"""Client authentication at the token endpoint.

Implements RFC 6749 §2.3.1 (``client_secret_basic``: form-urlencode id and secret, then base64;
``client_secret_post``), OAuth 2.1 §2.4.1 (``none``: public clients send ``client_id``), and
RFC 7523 §2.2 / §3 with RFC 7521 §4.2 (``private_key_jwt``: a signed JWT assertion with
``iss`` = ``sub`` = client_id, ``aud`` = the AS issuer (draft-ietf-oauth-rfc7523bis, the MCP
client-credentials extension and its conformance scenario), ``jti``, ``iat``, ``exp``).
SPEC C-31; extension ``io.modelcontextprotocol/oauth-client-credentials``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import quote

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from zeroauth.core.client_info import ClientInfo
from zeroauth.core.errors import RegistrationError

__all__ = [
    "ASSERTION_LIFETIME",
    "JWT_BEARER_ASSERTION",
    "client_assertion",
    "client_auth",
    "infer_signing_alg",
]

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 120  # seconds; RFC 7523 §3 item 4: exp must be set, short is better
_ASYMMETRIC_PREFIXES = ("RS", "PS", "ES", "EdDSA")


def client_auth(
    client: ClientInfo,
    *,
    method: str,
    token_endpoint: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
    audience: str | None = None,
    key_id: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(form additions, header additions) that authenticate ``client`` with ``method``.

    ``token_endpoint`` names the place in errors; the assertion ``aud`` is ``audience`` when
    given (some deployments want the token endpoint URL), else the client's issuer.
    """
    where = f"{token_endpoint} ({method})"
    if method == "none":
        return {"client_id": client.client_id}, {}
    if method in ("client_secret_basic", "client_secret_post"):
        secret = client.client_secret
        if not secret:
            raise RegistrationError(
                "the client has no secret",
                requirement="C-31",
                where=where,
                expected="a client_secret",
                hint="configure client_secret for this client, or use another method",
            )
        if method == "client_secret_post":
            return {"client_id": client.client_id, "client_secret": secret}, {}
        # RFC 6749 §2.3.1: application/x-www-form-urlencoded id and secret, then Basic.
        # Space becomes %20 (not "+"): decoded identically by form and percent decoders.
        pair = f"{quote(client.client_id, safe='')}:{quote(secret, safe='')}"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return {}, {"Authorization": f"Basic {token}"}
    if method == "private_key_jwt":
        assertion = client_assertion(
            client,
            now=now,
            private_key=private_key,
            signing_alg=signing_alg,
            audience=audience or client.issuer,
            key_id=key_id,
            where=where,
        )
        # RFC 7521 §4.2: client_id is optional; sent because some ASes (Entra) require it.
        form = {
            "client_id": client.client_id,
            "client_assertion_type": JWT_BEARER_ASSERTION,
            "client_assertion": assertion,
        }
        return form, {}
    raise RegistrationError(
        "unsupported token endpoint authentication method",
        requirement="C-31",
        where=where,
        expected="none, client_secret_basic, client_secret_post or private_key_jwt",
        found=method,
    )


def client_assertion(
    client: ClientInfo,
    *,
    now: float,
    private_key: Any,
    signing_alg: str | None,
    audience: str,
    key_id: str | None = None,
    where: str = "client assertion",
) -> str:
    """RFC 7523 §3 JWT for client authentication, signed with an asymmetric key."""
    if private_key is None:
        raise RegistrationError(
            "private_key_jwt needs a private key",
            requirement="C-31",
            where=where,
            expected="a PEM private key or a cryptography private key object",
            hint="pass private_key= (and signing_alg=, e.g. ES256 or RS256)",
        )
    alg = signing_alg or infer_signing_alg(private_key, where=where)
    if not alg.startswith(_ASYMMETRIC_PREFIXES):
        raise RegistrationError(
            "private_key_jwt needs an asymmetric signing algorithm",
            requirement="C-31",
            where=where,
            expected="RS*, PS*, ES* or EdDSA",
            found=alg,
        )
    issued = int(now)
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    headers = {"kid": key_id} if key_id else None
    try:
        return jwt.encode(claims, private_key, algorithm=alg, headers=headers)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise RegistrationError(
            "could not sign the client assertion",
            requirement="C-31",
            where=where,
            expected=f"a private key usable with {alg}",
            found=type(exc).__name__,
        ) from None


def infer_signing_alg(private_key: Any, *, where: str) -> str:
    """The JWS ``alg`` for an asymmetric private key (PEM or ``cryptography`` object)."""
    key = private_key
    if isinstance(key, str | bytes):
        try:
            key = load_pem_private_key(key.encode() if isinstance(key, str) else key, None)
        except (ValueError, TypeError):
            key = None
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return "EdDSA"
    raise RegistrationError(
        "cannot tell the signing algorithm from the private key",
        requirement="C-31",
        where=where,
        expected="an RSA, EC (P-256/384/521) or Ed25519 private key, or signing_alg=",
        hint="pass signing_alg= explicitly",
    )
