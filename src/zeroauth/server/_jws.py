"""JWS compact serialization, read strictly: base64url segments, JSON, signatures.

The step-1 machinery of ``zeroauth.server._jwt.JWTVerifier``, on ``cryptography`` primitives:

- ``b64url_decode``: RFC 7515 §2 base64url, strict and canonical, accepting exactly what PyJWT
  2.15 accepts (``tests/unit/test_jwt_differential.py``) without PyJWT's per-character
  alphabet scan (~3x the signature cost).
- ``VERIFIERS``: signature verification per ``alg``: RFC 7518 §3.3 (RS*), §3.4 (ES*: the raw
  ``R || S`` signature, each exactly the curve size), §3.5 (PS*), RFC 8037 §3.1 (EdDSA).
  Asymmetric only: no HS*, no ``none`` (RFC 8725 §3.1-§3.2, SECURITY B2).
- ``loads``: ``json.loads`` verdicts for a decoded header or payload (RFC 7515 §5.2 step 4),
  without its Python wrapper on the common path.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["VERIFIERS", "b64url_decode", "loads"]

# base64url -> standard alphabet; "+", "/" and inner "=" become "!" so strict mode refuses them
_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/!!!")
_LAST_OF_2 = frozenset(b"AQgw")  # canonical final char when 2 chars remain (4 unused bits zero)
_LAST_OF_3 = frozenset(b"AEIMQUYcgkosw048")  # ... when 3 chars remain (2 unused bits zero)


def b64url_decode(segment: bytes) -> bytes:
    """Strict, canonical base64url (RFC 7515 §2); raises ``ValueError``.

    Accepts exactly what PyJWT 2.15 accepts: unpadded, or padded to a multiple of 4 with at
    most two ``=``; no other characters; unused trailing bits zero.
    """
    data = segment
    if data.endswith(b"="):
        data = data.rstrip(b"=")
        if len(segment) - len(data) > 2 or len(segment) % 4:
            raise ValueError("bad padding")
    rest = len(data) % 4
    if rest == 1:
        raise ValueError("bad length")
    if (rest == 2 and data[-1] not in _LAST_OF_2) or (rest == 3 and data[-1] not in _LAST_OF_3):
        raise ValueError("non-canonical encoding")
    try:
        return binascii.a2b_base64(
            data.translate(_FROM_URLSAFE) + b"=" * (-rest % 4), strict_mode=True
        )
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _rsa(
    hash_cls: Callable[[], hashes.HashAlgorithm], pss: bool
) -> Callable[[Any, bytes, bytes], None]:
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)
        if pss
        else padding.PKCS1v15()
    )

    def verify(key: Any, sig: bytes, msg: bytes) -> None:
        key.verify(sig, msg, pad, hash_cls())

    return verify


def _ecdsa(
    hash_cls: Callable[[], hashes.HashAlgorithm], size: int
) -> Callable[[Any, bytes, bytes], None]:
    def verify(key: Any, sig: bytes, msg: bytes) -> None:
        if len(sig) != 2 * size:  # RFC 7518 §3.4: R || S, each exactly the curve size
            raise InvalidSignature
        r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        key.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hash_cls()))

    return verify


def _eddsa(key: Any, sig: bytes, msg: bytes) -> None:
    key.verify(sig, msg)


_SHA: dict[int, Callable[[], hashes.HashAlgorithm]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    512: hashes.SHA512,
}
VERIFIERS: Mapping[str, Callable[[Any, bytes, bytes], None]] = {
    **{f"RS{n}": _rsa(h, pss=False) for n, h in _SHA.items()},
    **{f"PS{n}": _rsa(h, pss=True) for n, h in _SHA.items()},
    "ES256": _ecdsa(hashes.SHA256, 32),
    "ES384": _ecdsa(hashes.SHA384, 48),
    "ES512": _ecdsa(hashes.SHA512, 66),
    "EdDSA": _eddsa,
}


# the C scanner json.loads runs (typeshed models make_scanner as a class: hence the ignore)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def loads(text: str) -> Any:
    """``json.loads`` without its Python wrapper on the common path (same verdicts)."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:  # not a JSON value at 0 (leading space, BOM...): the full rules decide
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
