"""Differential test: zeroauth's lean JWT path against PyJWT 2.15 (SECURITY B1-B3, B13).

``JWTVerifier`` verifies signatures on ``cryptography`` primitives with its own strict base64url
decoder. Here every named vector and attack, and hypothesis-generated tokens, go through both
zeroauth and a reference built on PyJWT's full ``jwt.decode`` (same key, same allow-list, same
issuer/audience/leeway, same frozen clock). The property:

    zeroauth accepts  <=>  PyJWT accepts  and  not stricter_policy(token)

where ``stricter_policy`` lists, independently of zeroauth's code, the rules zeroauth adds on
top of PyJWT (documented in docs/decisions/jwt-verifier.md). When both accept, the claims are
identical. So the lean path never accepts a token PyJWT refuses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Coroutine
from datetime import datetime
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from zeroauth.core.errors import InvalidToken
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import MAX_TOKEN_LENGTH, JWTVerifier, b64url_decode

NOW = 1_800_000_000
ISS = "https://as.example.com/realms/test"
RES = "https://mcp.example.com/mcp"
LEEWAY = 30
ALGS = ("RS256", "ES256")

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EVIL_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EVIL_EC = ec.generate_private_key(ec.SECP256R1())
KEYS = {"rsa": (RSA_KEY.public_key(), "RSA"), "ec": (EC_KEY.public_key(), "EC")}
JWKS = {
    "keys": [
        RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True) | {"kid": "rsa", "use": "sig"},
        ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True) | {"kid": "ec"},
    ]
}
RSA_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(alg: str, key: Any, message: bytes) -> bytes:
    if alg == "none":
        return b""
    if alg.startswith("HS"):
        return hmac.new(key, message, hashlib.sha256).digest()
    algorithms: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
        "256": hashes.SHA256,
        "384": hashes.SHA384,
        "512": hashes.SHA512,
    }
    digest = algorithms[alg[2:]]()
    if alg.startswith("RS"):
        return bytes(key.sign(message, padding.PKCS1v15(), digest))
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return bytes(key.sign(message, pss, digest))
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def segment(value: dict[str, Any] | bytes) -> bytes:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def make(
    header: dict[str, Any] | bytes,
    payload: dict[str, Any] | bytes,
    alg: str = "RS256",
    key: Any = RSA_KEY,
) -> str:
    signing_input = segment(header) + b"." + segment(payload)
    return (signing_input + b"." + b64(sign(alg, key, signing_input))).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": RES,
        "exp": NOW + 600,
        "iat": NOW - 10,
        "sub": "alice",
        "client_id": "c1",
        "scope": "mcp:read mcp:write",
        "jti": "j1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()
RS = {"alg": "RS256", "kid": "rsa", "typ": "at+jwt"}
ES = {"alg": "ES256", "kid": "ec", "typ": "at+jwt"}


# --- the two verifiers ------------------------------------------------------------------


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> _FrozenDatetime:
        return cls.fromtimestamp(NOW, tz)


VERIFIER = JWTVerifier(
    issuer=ISS,
    resource=RES,
    jwks=JWKSCache.static(JWKS),
    algorithms=ALGS,
    leeway=LEEWAY,
    cache_size=0,
    clock=lambda: NOW,
)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends (static JWKS: no I/O) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("verification suspended: it should not do I/O with a static JWKS")


def zeroauth_verify(token: str) -> dict[str, Any] | None:
    try:
        return dict(run(VERIFIER.verify(token)).claims)
    except InvalidToken as refusal:
        leaked = len(token) >= 8 and token in str(refusal)
        assert not leaked  # B3: the token never appears in a refusal
        return None


def _select_key(header: dict[str, Any]) -> Any:
    """Key choice (independent of zeroauth): kid names the key, whose type must fit alg."""
    alg = header.get("alg")
    kty = {"RS256": "RSA", "ES256": "EC"}.get(alg) if isinstance(alg, str) else None
    if kty is None:
        return RSA_KEY.public_key()  # PyJWT refuses the alg itself
    if "kid" not in header:
        fitting = [k for k, t in KEYS.values() if t == kty]
        return fitting[0] if len(fitting) == 1 else None
    entry = KEYS.get(header["kid"]) if isinstance(header["kid"], str) else None
    return entry[0] if entry is not None and entry[1] == kty else None


def pyjwt_verify(token: str) -> dict[str, Any] | None:
    try:
        header = jwt.get_unverified_header(token)
        key = _select_key(header)
        if key is None:
            return None
        with mock.patch("jwt.api_jwt.datetime", _FrozenDatetime):
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGS),
                audience=RES,
                issuer=ISS,
                leeway=LEEWAY,
                options={"require": ["exp"]},
            )
    except Exception:  # any refusal, PyJWTError or otherwise
        return None
    return payload


def _utf8_json(seg: str) -> Any:
    return json.loads(jwt.utils.base64url_decode(seg).decode("utf-8"))


def stricter_policy(token: str) -> str | None:
    """zeroauth's documented rules beyond PyJWT, for a token PyJWT accepted."""
    if len(token) > MAX_TOKEN_LENGTH:
        return "length cap (B13)"
    head, body, _ = token.split(".")
    try:
        header, payload = _utf8_json(head), _utf8_json(body)
    except ValueError:  # not UTF-8, or a BOM
        return "UTF-8 only"
    if "crit" in header:
        return "crit refused"
    if "b64" in header and header["b64"] is not True:
        return "b64 must be absent or true"
    typ = header.get("typ")
    if "typ" in header and not (
        isinstance(typ, str)
        and typ.lower() in {"at+jwt", "application/at+jwt", "jwt", "application/jwt"}
    ):
        return "typ"
    for name in ("exp", "iat", "nbf"):
        value = payload.get(name)
        if name in payload and not (
            type(value) is int or (type(value) is float and math.isfinite(value))
        ):
            return f"{name} must be a JSON number"
    for name in ("client_id", "azp"):
        if name in payload and not isinstance(payload[name], str):
            return f"{name} must be a string"
    scope = payload.get("scope", payload.get("scp"))
    if scope is not None and not (
        isinstance(scope, str)
        or (isinstance(scope, list) and all(isinstance(s, str) for s in scope))
    ):
        return "scope shape"
    return None


def check_agreement(token: str) -> bool:
    ours, reference = zeroauth_verify(token), pyjwt_verify(token)
    expected = reference is not None and stricter_policy(token) is None
    assert (ours is not None) == expected, (
        f"zeroauth {'accepted' if ours is not None else 'refused'}, PyJWT "
        f"{'accepted' if reference is not None else 'refused'}, policy "
        f"{stricter_policy(token) if reference is not None else '-'}: {token[:300]}"
    )
    if ours is not None:
        assert ours == reference
    return ours is not None


# --- named vectors and attacks --------------------------------------------------------------

_RSA_SIGNED = make(RS, claims())
_H, _P, _S = _RSA_SIGNED.split(".")
_ES_DER = b64(EC_KEY.sign((segment(ES) + b"." + segment(claims())), ec.ECDSA(hashes.SHA256())))
_ES_RAW = make(ES, claims(), "ES256", EC_KEY)


def _signed(head: bytes, body: bytes) -> str:
    signing_input = head + b"." + body
    return (signing_input + b"." + b64(sign("RS256", RSA_KEY, signing_input))).decode()


def _padded() -> str:
    """Segments padded with "=" (PyJWT accepts them, as some issuers emit them)."""
    head = base64.urlsafe_b64encode(json.dumps(RS).encode() + b" ")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode() + b"  ")
    assert head.endswith(b"=") or body.endswith(b"=")
    return _signed(head, body)


def _high_s(token: str) -> str:
    """ECDSA malleability: (r, n - s) is valid too; both libraries accept it."""
    head, body, sig = token.split(".")
    raw = jwt.utils.base64url_decode(sig)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    s = order - int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{b64(raw[:32] + s.to_bytes(32, 'big')).decode()}"


def _zero_padded_s(token: str) -> str:
    """R || 0x0000 || S: the same integers, not the fixed-size encoding of RFC 7518 §3.4."""
    head, body, sig = token.split(".")
    raw = jwt.utils.base64url_decode(sig)
    return f"{head}.{body}.{b64(raw[:32] + bytes(2) + raw[32:]).decode()}"


def _non_canonical() -> str:
    """A payload segment whose unused trailing bits are not zero, validly signed."""
    body = json.dumps(claims()).encode()
    while len(b64(body)) % 4 != 2:
        body += b" "
    seg = b64(body)
    noisy = seg[:-1] + bytes([_B64_ALPHABET[_B64_ALPHABET.index(seg[-1]) + 1]])
    assert jwt.utils.base64url_decode(noisy) == body
    return _signed(segment(RS), noisy)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

VECTORS: dict[str, tuple[str, bool]] = {
    "valid-rs256": (_RSA_SIGNED, True),
    "valid-es256": (_ES_RAW, True),
    "valid-no-kid-unique-key": (make({"alg": "RS256"}, claims()), True),
    "valid-typ-JWT": (make({**RS, "typ": "JWT"}, claims()), True),
    "valid-typ-application-at+jwt": (make({**RS, "typ": "application/at+jwt"}, claims()), True),
    "valid-no-typ": (make({"alg": "RS256", "kid": "rsa"}, claims()), True),
    "valid-aud-list": (make(RS, claims(aud=["https://other", RES])), True),
    "valid-scp-list": (make(RS, claims(scope=_DROP, scp=["a", "b"])), True),
    "valid-expired-within-leeway": (make(RS, claims(exp=NOW - LEEWAY + 1)), True),
    "valid-nbf-within-leeway": (make(RS, claims(nbf=NOW + LEEWAY)), True),
    "valid-float-exp": (make(RS, claims(exp=NOW + 0.5 + 600)), True),
    "valid-unknown-header-x5t": (make({**RS, "x5t": "abc"}, claims()), True),
    "valid-padded-segments": (_padded(), True),
    "valid-es256-high-s": (_high_s(_ES_RAW), True),
    # B2: header attacks
    "B2-alg-none": (make({"alg": "none", "kid": "rsa"}, claims(), "none"), False),
    "B2-alg-None-case": (make({"alg": "None", "kid": "rsa"}, claims(), "none"), False),
    "B2-hs256-with-rsa-public-key": (
        make({"alg": "HS256", "kid": "rsa"}, claims(), "HS256", RSA_PEM),
        False,
    ),
    "B2-alg-not-in-allow-list": (make({"alg": "RS512", "kid": "rsa"}, claims(), "RS512"), False),
    "B2-ps256-not-allowed": (make({"alg": "PS256", "kid": "rsa"}, claims(), "PS256"), False),
    "B2-es256-with-rsa-kid": (
        make({"alg": "ES256", "kid": "rsa"}, claims(), "ES256", EC_KEY),
        False,
    ),
    "B2-rs256-with-ec-kid": (make({"alg": "RS256", "kid": "ec"}, claims()), False),
    "B2-jwk-header-injection": (
        make(
            {**RS, "kid": "evil", "jwk": RSAAlgorithm.to_jwk(EVIL_RSA.public_key(), as_dict=True)},
            claims(),
            "RS256",
            EVIL_RSA,
        ),
        False,
    ),
    "B2-jwk-header-with-our-kid": (
        make(
            {**RS, "jwk": RSAAlgorithm.to_jwk(EVIL_RSA.public_key(), as_dict=True)},
            claims(),
            "RS256",
            EVIL_RSA,
        ),
        False,
    ),
    "B2-jku-injection": (
        make({**RS, "jku": "https://evil.example/jwks"}, claims(), "RS256", EVIL_RSA),
        False,
    ),
    "B2-x5u-injection": (
        make({**RS, "x5u": "https://evil.example/cert"}, claims(), "RS256", EVIL_RSA),
        False,
    ),
    "B2-attacker-ec-key": (make(ES, claims(), "ES256", EVIL_EC), False),
    "B2-unknown-kid": (make({**RS, "kid": "nope"}, claims()), False),
    "B2-kid-path-traversal": (make({**RS, "kid": "../../../../dev/null"}, claims()), False),
    "B2-kid-not-string": (make({**RS, "kid": 7}, claims()), False),
    "B2-kid-null": (make({**RS, "kid": None}, claims()), False),
    "B2-crit-unknown": (make({**RS, "crit": ["exp"], "exp": 1}, claims()), False),
    "B2-crit-b64-true": (make({**RS, "crit": ["b64"], "b64": True}, claims()), False),
    "B2-b64-false": (make({**RS, "crit": ["b64"], "b64": False}, claims()), False),
    "B2-typ-id-token-confusion": (make({**RS, "typ": "dpop+jwt"}, claims()), False),
    "B2-typ-logout": (make({**RS, "typ": "logout+jwt"}, claims()), False),
    "B2-signature-bit-flip": (
        f"{_H}.{_P}.{_S[:-5]}{'A' if _S[-5] != 'A' else 'B'}{_S[-4:]}",
        False,
    ),
    "B2-payload-swapped": (f"{_H}.{segment(claims(sub='mallory')).decode()}.{_S}", False),
    "B2-es256-der-signature": (
        (segment(ES) + b"." + segment(claims()) + b"." + _ES_DER).decode(),
        False,
    ),
    "B2-es256-signature-extra-byte": (_ES_RAW + "AA", False),
    "B2-es256-signature-zero-padded-s": (_zero_padded_s(_ES_RAW), False),
    "B2-es256-signature-truncated": (_ES_RAW[:-4], False),
    "B2-empty-signature": (f"{_H}.{_P}.", False),
    # B3: claims
    "B3-expired": (make(RS, claims(exp=NOW - LEEWAY)), False),
    "B3-nbf-future": (make(RS, claims(nbf=NOW + LEEWAY + 1)), False),
    "B3-iat-future": (make(RS, claims(iat=NOW + LEEWAY + 1)), False),
    "B3-missing-exp": (make(RS, claims(exp=_DROP)), False),
    "B3-exp-null": (make(RS, claims(exp=None)), False),
    "B3-exp-string": (make(RS, claims(exp=str(NOW + 600))), False),
    "B3-exp-bool": (make(RS, claims(exp=True)), False),
    "B3-exp-infinity": (
        make(RS, json.dumps(claims(exp=1)).replace("1,", "Infinity,", 1).encode()),
        False,
    ),
    "B3-exp-nan": (make(RS, json.dumps(claims(exp=1)).replace("1,", "NaN,", 1).encode()), False),
    "B3-wrong-iss": (make(RS, claims(iss="https://evil.example")), False),
    "B3-iss-trailing-slash": (make(RS, claims(iss=ISS + "/")), False),
    "B3-missing-iss": (make(RS, claims(iss=_DROP)), False),
    "B3-sub-not-string": (make(RS, claims(sub=42)), False),
    "B3-jti-not-string": (make(RS, claims(jti=["x"])), False),
    "B3-client-id-not-string": (make(RS, claims(client_id=1)), False),
    "B3-scope-not-string": (make(RS, claims(scope={"a": 1})), False),
    # B1: audience
    "B1-aud-other-resource": (make(RS, claims(aud="https://other.example/mcp")), False),
    "B1-aud-missing": (make(RS, claims(aud=_DROP)), False),
    "B1-aud-empty-list": (make(RS, claims(aud=[])), False),
    "B1-aud-list-with-number": (make(RS, claims(aud=[RES, 1])), False),
    "B1-aud-prefix": (make(RS, claims(aud=RES + "/extra")), False),
    "B1-aud-client-id-like-id-token": (make(RS, claims(aud="c1")), False),
    # B13 and framing
    "B13-empty": ("", False),
    "B13-dots": ("..", False),
    "B13-two-segments": (f"{_H}.{_P}", False),
    "B13-four-segments": (f"{_RSA_SIGNED}.{_S}", False),
    "B13-jwe-five-segments": ("a.b.c.d.e", False),
    "B13-non-ascii": (_RSA_SIGNED[:-2] + "é" + _RSA_SIGNED[-1:], False),
    "B13-100kb": (make(RS, claims(pad="x" * 100_000)), False),
    "B13-garbage": ("not-a-jwt", False),
    "B13-header-array": (make(b"[1,2]", claims()), False),
    "B13-payload-array": (make(RS, b"[1,2]"), False),
    "B13-payload-not-json": (make(RS, b"{not json"), False),
    "B13-header-utf16": (make(json.dumps(RS).encode("utf-16-le"), claims()), False),
    "B13-payload-utf8-bom": (make(RS, b"\xef\xbb\xbf" + json.dumps(claims()).encode()), False),
    "B13-plus-slash-alphabet": (_RSA_SIGNED.replace("-", "+").replace("_", "/"), False),
    "B13-whitespace": (_RSA_SIGNED[:10] + " " + _RSA_SIGNED[10:], False),
    "B13-deep-json": (make(RS, b'{"a":' * 2000 + b"1" + b"}" * 2000), False),
    "B13-bad-padding": (f"{_H}=.{_P}.{_S}", False),
    "B13-three-pads": (f"{_H}===.{_P}.{_S}", False),
    "B13-non-canonical-last-char": (_non_canonical(), False),
}


@pytest.mark.parametrize(("token", "accepted"), VECTORS.values(), ids=VECTORS.keys())
def test_b1_b2_b3_b13_vectors_agree_with_pyjwt(token: str, accepted: bool) -> None:
    assert check_agreement(token) is accepted


def test_named_vectors_cover_pyjwt_leniencies() -> None:
    """The stricter rules are exercised: PyJWT accepts these, zeroauth refuses them."""
    lenient = {
        "crit-b64": make({**RS, "crit": ["b64"], "b64": True}, claims()),
        "exp-string": make(RS, claims(exp=str(NOW + 600))),
        "exp-bool-iat": make(RS, claims(iat=True)),
        "typ": make({**RS, "typ": "dpop+jwt"}, claims()),
        "utf16": make(json.dumps(RS).encode("utf-16-le"), claims()),
    }
    for name, token in lenient.items():
        assert pyjwt_verify(token) is not None, name
        assert zeroauth_verify(token) is None, name


# --- hypothesis ------------------------------------------------------------------------------

_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_times = st.one_of(
    st.integers(NOW - 2 * LEEWAY - 2, NOW + 2 * LEEWAY + 2),
    st.floats(NOW - 100, NOW + 100),
    st.sampled_from([None, True, "1900000000", float("nan"), float("inf"), 0, 10**30]),
)
_maybe = st.sampled_from
_header = st.fixed_dictionaries(
    {"alg": _maybe(["RS256", "ES256", "RS512", "PS256", "HS256", "none", None, 1, ["RS256"]])},
    optional={
        "kid": _maybe(["rsa", "ec", "other", None, 5, ["rsa"]]),
        "typ": _maybe(["at+jwt", "AT+JWT", "application/at+jwt", "JWT", "jwt", "id+jwt", 3]),
        "crit": _maybe([["b64"], ["exp"], [], "b64"]),
        "b64": _maybe([True, False, 0, "x"]),
        "jku": st.just("https://evil.example/jwks"),
        "x5t": st.text(max_size=5),
    },
)
_payload = st.fixed_dictionaries(
    {},
    optional={
        "iss": _maybe([ISS, ISS + "/", "https://evil.example", None, 1]),
        "aud": _maybe([RES, [RES], ["x", RES], "x", [], [RES, 2], None, {"a": RES}]),
        "exp": _times,
        "iat": _times,
        "nbf": _times,
        "sub": _maybe(["alice", 1, None, ""]),
        "jti": _maybe(["j", 2, None]),
        "client_id": _maybe(["c", 3, None]),
        "azp": _maybe(["c", [1]]),
        "scope": _maybe(["a b", "", ["a"], 1, None]),
        "scp": _maybe([["a", "b"], "a", [1]]),
    },
)
_signer = st.sampled_from(
    [
        ("RS256", RSA_KEY),
        ("RS256", RSA_KEY),
        ("ES256", EC_KEY),
        ("ES256", EC_KEY),
        ("RS256", EVIL_RSA),
        ("ES256", EVIL_EC),
        ("RS512", RSA_KEY),
    ]
)


@st.composite
def structured_tokens(draw: st.DrawFn) -> str:
    header, payload = draw(_header), draw(_payload)
    alg, key = draw(_signer)
    signing_input = segment(header) + b"." + segment(payload)
    token = (signing_input + b"." + b64(sign(alg, key, signing_input))).decode()
    mutation = draw(st.integers(0, 9))
    if mutation == 1:  # flip one character
        i = draw(st.integers(0, len(token) - 1))
        token = token[:i] + draw(st.sampled_from(_B64_CHARS + ".=+/ ")) + token[i + 1 :]
    elif mutation == 2:  # pad a segment
        parts = token.split(".")
        j = draw(st.integers(0, 2))
        parts[j] += "=" * draw(st.integers(1, 3))
        token = ".".join(parts)
    elif mutation == 3:  # cut the token
        token = token[: draw(st.integers(0, len(token)))]
    elif mutation == 4:  # splice a segment from the reference token
        parts = token.split(".")
        parts[draw(st.integers(0, 2))] = draw(st.sampled_from([_H, _P, _S]))
        token = ".".join(parts)
    return token


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured_tokens())
def test_differential_structured_tokens(token: str) -> None:
    check_agreement(token)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_B64_CHARS + ".=+/ \t\né", max_size=120))
def test_differential_random_text(token: str) -> None:
    check_agreement(token)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=_B64_CHARS + "=+/!. ", max_size=40))
def test_b64url_decode_matches_pyjwt_segment_decoder(segment_text: str) -> None:
    data = segment_text.encode()
    try:
        expected: bytes | None = jwt.api_jws.PyJWS._decode_base64url_segment(data, "x")
    except jwt.DecodeError:
        expected = None
    try:
        ours: bytes | None = b64url_decode(data)
    except ValueError:
        ours = None
    assert ours == expected
