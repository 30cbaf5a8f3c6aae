"""DPoP proofs (RFC 9449) and JWK thumbprints (RFC 7638): vectors, refusals, properties.

Refusal tests cite SECURITY G1 (replayed, re-targeted, stale, mis-keyed, unsigned or HMAC'd
proofs, private keys in the header, hostile sizes). Vectors: tests/vectors/dpop.json.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroauth.core.dpop import (
    SUPPORTED_ALGS,
    DPoPKey,
    access_token_hash,
    dpop_challenge_header,
    htu,
    make_proof,
    read_dpop_challenge,
    read_dpop_nonce,
    validate_proof,
)
from zeroauth.core.errors import InvalidDPoPProof, InvalidInput, UseDPoPNonce, ZeroAuthError
from zeroauth.core.jwk import jwk_thumbprint

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "dpop.json").read_text("utf-8"))
NOW = 1_700_000_000.0
URL = "https://mcp.example.com/mcp"
KEY = DPoPKey.generate()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _signed(header: dict[str, Any], claims: dict[str, Any], key: Any = None, alg: str = "ES256"):
    return jwt.encode(claims, key or KEY.private_key, algorithm=alg, headers=header)


def _claims(**extra: Any) -> dict[str, Any]:
    return {"jti": "j-1", "htm": "POST", "htu": URL, "iat": int(NOW), **extra}


def _header(**extra: Any) -> dict[str, Any]:
    return {"typ": "dpop+jwt", "jwk": dict(KEY.jwk), **extra}


# --- vectors -----------------------------------------------------------------------------------


def test_rfc7638_section_3_1_thumbprint() -> None:
    vector = VECTORS["rfc7638_thumbprint"]
    assert jwk_thumbprint(vector["jwk"]) == vector["thumbprint"]


def test_rfc9449_token_request_proof_validates() -> None:
    v = VECTORS["rfc9449_token_proof"]
    proof = validate_proof(v["proof"], method=v["method"], url=v["url"], now=v["iat"] + 2)
    assert (proof.jkt, proof.jti, proof.iat, proof.htm) == (v["jkt"], v["jti"], v["iat"], "POST")
    assert jwk_thumbprint(v["jwk"]) == v["jkt"]  # RFC 9449 §6.1 Figure 9


def test_rfc9449_resource_proof_checks_ath() -> None:
    v = VECTORS["rfc9449_resource_proof"]
    assert access_token_hash(v["access_token"]) == v["ath"]
    proof = validate_proof(
        v["proof"],
        method="GET",
        url=v["url"],
        now=v["iat"],
        access_token=v["access_token"],
        expected_jkt=v["jkt"],
    )
    assert proof.ath == v["ath"]
    with pytest.raises(InvalidDPoPProof, match="ath"):
        validate_proof(v["proof"], method="GET", url=v["url"], now=v["iat"], access_token="other")


@pytest.mark.parametrize(("url", "expected"), VECTORS["htu"])
def test_htu_normalisation_rfc9449_4_3(url: str, expected: str) -> None:
    assert htu(url) == expected


# --- creation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "RS256", "PS256"])
def test_make_proof_round_trips_for_each_alg(alg: str) -> None:
    key = DPoPKey.generate(alg)
    text = make_proof(
        key, method="post", url=URL + "?q=1#f", now=NOW, access_token="tok", nonce="n-1"
    )
    header = jwt.get_unverified_header(text)
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == alg
    assert not {"d", "p", "q", "dp", "dq", "qi"} & header["jwk"].keys()
    proof = validate_proof(
        text,
        method="POST",
        url=URL,
        now=NOW,
        access_token="tok",
        expected_jkt=key.thumbprint,
        nonce="n-1",
    )
    assert proof.htu == URL
    assert proof.nonce == "n-1"
    assert proof.ath == access_token_hash("tok")


def test_each_proof_has_a_fresh_jti() -> None:
    jtis = {
        validate_proof(
            make_proof(KEY, method="POST", url=URL, now=NOW), method="POST", url=URL, now=NOW
        ).jti
        for _ in range(20)
    }
    assert len(jtis) == 20


def test_key_pem_round_trip_keeps_the_thumbprint() -> None:
    again = DPoPKey.from_private_key(KEY.to_pem())
    assert (again.alg, again.thumbprint, dict(again.jwk)) == (
        KEY.alg,
        KEY.thumbprint,
        dict(KEY.jwk),
    )


def test_unknown_alg_is_refused() -> None:
    with pytest.raises(InvalidInput):
        DPoPKey.generate("HS256")


# --- refusals (SECURITY G1) --------------------------------------------------------------------


def _refused(proof: Any, *, error: type[ZeroAuthError] = InvalidDPoPProof, **kwargs: Any) -> str:
    args: dict[str, Any] = {"method": "POST", "url": URL, "now": NOW, **kwargs}
    with pytest.raises(error) as info:
        validate_proof(proof, **args)
    return str(info.value)


def test_g1_alg_none_refused() -> None:
    text = _b64({"typ": "dpop+jwt", "alg": "none", "jwk": dict(KEY.jwk)}) + "." + _b64(_claims())
    assert "alg" in _refused(text + ".sig")


def test_g1_hs256_refused() -> None:
    text = jwt.encode(_claims(), "secret" * 8, algorithm="HS256", headers=_header())
    assert "alg" in _refused(text)


def test_g1_alg_outside_the_allowed_set_refused() -> None:
    assert "alg" in _refused(
        make_proof(KEY, method="POST", url=URL, now=NOW), allowed_algs=["RS256"]
    )


def test_g1_private_key_in_jwk_refused() -> None:
    numbers = KEY.private_key.private_numbers()
    d = base64.urlsafe_b64encode(numbers.private_value.to_bytes(32, "big")).rstrip(b"=").decode()
    text = _signed(_header(jwk={**KEY.jwk, "d": d}), _claims())
    assert "private" in _refused(text)


def test_g1_symmetric_jwk_refused() -> None:
    assert "private" in _refused(_signed(_header(jwk={"kty": "oct", "k": "AAAA"}), _claims()))


def test_g1_wrong_typ_refused() -> None:
    assert "typ" in _refused(_signed(_header(typ="JWT"), _claims()))


def test_g1_signature_by_another_key_refused() -> None:
    other = DPoPKey.generate()
    assert "signature" in _refused(_signed(_header(), _claims(), key=other.private_key))


def test_g1_jwk_of_wrong_type_for_alg_refused() -> None:
    rsa = DPoPKey.generate("RS256")
    assert "fit" in _refused(_signed(_header(jwk=dict(rsa.jwk)), _claims()))


@pytest.mark.parametrize(
    ("claims", "kwargs", "word"),
    [
        (_claims(htm="GET"), {}, "htm"),
        (_claims(htu="https://other.example/mcp"), {}, "htu"),
        (_claims(htu=URL + "?x=1"), {}, "query"),
        (_claims(htu=URL + "/extra"), {}, "htu"),
        (_claims(iat=int(NOW) - 3600), {}, "iat"),
        (_claims(iat=int(NOW) + 3600), {}, "iat"),
        (_claims(iat="now"), {}, "iat"),
        (_claims(iat=True), {}, "iat"),
        ({"htm": "POST", "htu": URL, "iat": int(NOW)}, {}, "jti"),
        (_claims(jti="j" * 300), {}, "jti"),
        (_claims(), {"access_token": "tok"}, "ath"),
        (_claims(ath=access_token_hash("other")), {"access_token": "tok"}, "ath"),
        (_claims(), {"expected_jkt": DPoPKey.generate().thumbprint}, "cnf.jkt"),
    ],
)
def test_g1_claims_refused(claims: dict[str, Any], kwargs: dict[str, Any], word: str) -> None:
    assert word in _refused(_signed(_header(), claims), **kwargs)


def test_g1_stale_and_future_iat_at_the_edges() -> None:
    ok = make_proof(KEY, method="POST", url=URL, now=NOW - 300)
    validate_proof(ok, method="POST", url=URL, now=NOW, max_age=300, leeway=0)
    _refused(make_proof(KEY, method="POST", url=URL, now=NOW - 301), max_age=300, leeway=0)
    _refused(make_proof(KEY, method="POST", url=URL, now=NOW + 61), leeway=60)


def test_g1_two_dpop_headers_refused() -> None:
    proof = make_proof(KEY, method="POST", url=URL, now=NOW)
    assert "exactly one" in _refused([proof, proof])
    assert "exactly one" in _refused(None)
    validate_proof([proof], method="POST", url=URL, now=NOW)


def test_g1_huge_and_nested_headers_refused() -> None:
    assert "compact" in _refused("a." * 10_000 + "b")
    nested: Any = {}
    for _ in range(50):
        nested = {"x": nested}
    assert "header" in _refused(_signed(_header(**{f"m{i}": i for i in range(20)}), _claims()))
    assert "jwk" in _refused(_signed(_header(jwk=nested), _claims()))
    deep = "[" * 100_000 + "]" * 100_000
    text = base64.urlsafe_b64encode(deep.encode()).rstrip(b"=").decode() + ".e30.c2ln"
    _refused(text)


@pytest.mark.parametrize("member", ["jku", "x5u", "kid", "crit"])
def test_g1_key_pointers_in_header_refused(member: str) -> None:
    assert "header" in _refused(_signed(_header(**{member: "https://evil.example/k"}), _claims()))


def test_nonce_required_missing_or_wrong_raises_use_dpop_nonce() -> None:
    _refused(make_proof(KEY, method="POST", url=URL, now=NOW), error=UseDPoPNonce, nonce="n-2")
    wrong = make_proof(KEY, method="POST", url=URL, now=NOW, nonce="n-1")
    _refused(wrong, error=UseDPoPNonce, nonce="n-2")
    _refused(wrong, error=UseDPoPNonce, nonce=lambda value: False)
    validate_proof(wrong, method="POST", url=URL, now=NOW, nonce=lambda value: value == "n-1")


# --- challenges and nonces (RFC 9449 §7.1, §8, §9) ---------------------------------------------


def test_read_dpop_challenge_w8_and_nonce_error() -> None:
    w8 = (
        'DPoP algs="ES256 PS256", resource_metadata="https://r.example/.well-known/'
        'oauth-protected-resource", Bearer resource_metadata="https://r.example/x"'
    )
    challenge = read_dpop_challenge(w8)
    assert challenge is not None
    assert challenge.algs == ("ES256", "PS256")
    assert challenge.resource_metadata == "https://r.example/.well-known/oauth-protected-resource"
    nonce = read_dpop_challenge(
        'DPoP error="use_dpop_nonce", error_description="Resource server'
        ' requires nonce in DPoP proof"'
    )
    assert nonce is not None
    assert nonce.error == "use_dpop_nonce"
    assert read_dpop_challenge('Bearer realm="x"') is None
    assert read_dpop_challenge('DPoP error="unterminated') is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("eyJ7S_zG.eyJH0-Z.HX4w-7v", "eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        (" n ", "n"),
        (None, None),
        ("", None),
        ('a"b', None),
        ("a b", None),
        ("x" * 2000, None),
        ("é", None),
    ],
)
def test_read_dpop_nonce_rfc9449_8_1(value: str | None, expected: str | None) -> None:
    assert read_dpop_nonce(value) == expected


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.from_regex(
        r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,80}\."
        r"[A-Za-z0-9_-]{0,80}",
        fullmatch=True,
    )
)
def test_validator_raises_only_invalid_dpop_proof(text: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        validate_proof(text, method="POST", url=URL, now=NOW)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["typ", "alg", "jwk", "kid", "x"]), json_values),
    st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), json_values),
)
def test_validator_on_hostile_json_raises_only_typed_errors(header: Any, claims: Any) -> None:
    text = f"{_b64(header)}.{_b64(claims)}.c2ln"
    with pytest.raises((InvalidDPoPProof, UseDPoPNonce)):
        validate_proof(text, method="POST", url=URL, now=NOW, nonce="n")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.text(alphabet="abc/._~%", max_size=20),
    st.sampled_from(SUPPORTED_ALGS[:4]),
)
def test_made_proofs_always_validate_for_their_request(method: str, path: str, alg: str) -> None:
    key = KEY if alg == "ES256" else DPoPKey.generate(alg)
    url = "https://mcp.example.com/" + path.replace("%", "")
    proof = make_proof(key, method=method, url=url, now=NOW, access_token="t")
    checked = validate_proof(
        proof, method=method, url=url, now=NOW, access_token="t", expected_jkt=key.thumbprint
    )
    assert checked.jkt == key.thumbprint


def _raw_signed(payload: bytes) -> str:
    """A proof over ``payload`` as given (no JSON re-encoding), signed with KEY."""
    header = _b64(_header(alg="ES256"))
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    algorithm = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
    signature = algorithm.sign(f"{header}.{body}".encode(), KEY.private_key)
    return f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_g1_duplicate_claims_and_nan_refused() -> None:
    """RFC 7515 §4: a claims set with a member twice is refused, not guessed; no NaN either."""
    claims = b'{"jti":"a","htm":"GET","htm":"POST","htu":"%s","iat":%d}' % (URL.encode(), NOW)
    assert "duplicates" in _refused(_raw_signed(claims))
    nan = b'{"jti":"a","htm":"POST","htu":"%s","iat":NaN}' % URL.encode()
    assert "duplicates" in _refused(_raw_signed(nan))
    ok = b'{"jti":"a","htm":"POST","htu":"%s","iat":%d}' % (URL.encode(), NOW)
    validate_proof(_raw_signed(ok), method="POST", url=URL, now=NOW)


def test_dpop_challenge_header_round_trips_through_the_reader() -> None:
    header = dpop_challenge_header(
        algs=["ES256", "none", "HS256", "PS256"], error="use_dpop_nonce",
        error_description='nonce "required"', resource_metadata="https://r.example/prm",
    )  # fmt: skip
    challenge = read_dpop_challenge(header)
    assert challenge is not None
    assert challenge.algs == ("ES256", "PS256")  # never none or a MAC
    assert (challenge.error, challenge.error_description) == ("use_dpop_nonce", 'nonce "required"')
    assert challenge.resource_metadata == "https://r.example/prm"
    assert dpop_challenge_header() == 'DPoP algs="ES256"'
    with pytest.raises(ValueError, match="injection"):
        dpop_challenge_header(error="invalid_dpop_proof", error_description="a\r\nSet-Cookie: x")


urls = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["mcp.example.com", "MCP.Example.com", "127.0.0.1", "[::1]"]),
    st.sampled_from(["", ":80", ":443", ":8443"]),
    st.text(alphabet="abc/.~%7E-_", max_size=24).map(lambda p: "/" + p),
    st.sampled_from(["", "?x=1", "#f", "?a#b"]),
)


@settings(max_examples=300, deadline=None)
@given(urls)
def test_htu_is_idempotent_and_never_has_a_query_or_fragment(url: str) -> None:
    """RFC 9449 §4.2/§4.3: normalising twice changes nothing; no query or fragment survives."""
    once = htu(url)
    assert htu(once) == once
    assert "?" not in once
    assert "#" not in once
