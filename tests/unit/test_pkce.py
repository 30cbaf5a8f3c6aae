"""PKCE S256 (RFC 7636 §4.1, §4.2, §4.6, Appendix B; SPEC.md §3.7, C-32)."""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroauth.core.errors import InvalidInput
from zeroauth.core.pkce import PKCE, generate_pkce, s256_challenge, verify_s256

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "pkce.json").read_text("utf-8")
)
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


@pytest.mark.parametrize("vector", DATA["s256"], ids=[v["id"] for v in DATA["s256"]])
def test_c32_appendix_b(vector: dict[str, str]) -> None:
    assert s256_challenge(vector["verifier"]) == vector["challenge"]
    assert verify_s256(vector["verifier"], vector["challenge"])


@pytest.mark.parametrize("vector", DATA["verifiers"], ids=[v["id"] for v in DATA["verifiers"]])
def test_c32_verifier_length_and_charset(vector: dict[str, Any]) -> None:
    verifier = vector["verifier"]
    if vector["valid"]:
        challenge = s256_challenge(verifier)
        assert len(challenge) == 43
        assert verify_s256(verifier, challenge)
    else:
        with pytest.raises(InvalidInput) as info:
            s256_challenge(verifier)
        assert info.value.requirement == "C-32"
        assert verifier not in str(info.value) or not verifier  # the verifier is never echoed
        assert verify_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") is False


@pytest.mark.parametrize("length", [43, 64, 100, 128])
def test_c32_generate_length_charset_and_challenge(length: int) -> None:
    made = generate_pkce(length)
    assert len(made.verifier) == length
    assert UNRESERVED.fullmatch(made.verifier)
    assert made.method == "S256"
    assert made.challenge == s256_challenge(made.verifier)
    assert "=" not in made.challenge
    assert verify_s256(made.verifier, made.challenge)


def test_c32_default_verifier_is_64_chars_and_fresh_each_time() -> None:
    verifiers = {generate_pkce().verifier for _ in range(200)}
    assert len(verifiers) == 200
    assert {len(v) for v in verifiers} == {64}
    # High entropy: across 200 verifiers every base64url symbol shows up.
    assert len(set("".join(verifiers))) == 64


@pytest.mark.parametrize("length", [0, 42, 129, -1])
def test_c32_generate_refuses_lengths_outside_43_128(length: int) -> None:
    with pytest.raises(ValueError, match=r"43\.\.128"):
        generate_pkce(length)


def test_c32_verifier_never_in_repr() -> None:
    made = generate_pkce()
    assert made.verifier not in repr(made)
    assert made.challenge in repr(made)
    with pytest.raises(AttributeError):
        made.verifier = "x"  # type: ignore[misc]


def test_c32_verify_rejects_wrong_pairs() -> None:
    a, b = generate_pkce(), generate_pkce()
    assert not verify_s256(a.verifier, b.challenge)
    assert not verify_s256(a.verifier, a.challenge + "=")
    assert not verify_s256(a.verifier, a.verifier)  # the "plain" method is never accepted
    assert not verify_s256(a.verifier, "")
    assert not verify_s256(a.verifier, "é" * 43)  # non-ASCII: False, not an exception


def test_c32_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    made = generate_pkce()
    assert verify_s256(made.verifier, made.challenge)
    assert calls == [(made.challenge.encode(), made.challenge.encode())]


@given(st.text(max_size=200), st.text(max_size=60))
def test_c32_verify_never_raises(verifier: str, challenge: str) -> None:
    assert verify_s256(verifier, challenge) in (True, False)


def test_pkce_is_a_frozen_value() -> None:
    assert PKCE("v" * 43, "c") == PKCE("v" * 43, "c", "S256")
