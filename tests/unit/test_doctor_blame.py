"""Whose fault is a refused token (``zeroauth.cli.doctor.checks_blame``): pure, no I/O.

RFC 9068 §4 (a resource server checks ``iss``, ``aud``, ``exp``), RFC 9728 §2 (what the PRM
promises), RFC 6750 §3.1 (the server's ``error_description``). S-19: a token that matches the
server's metadata and is refused is the server verifier's fault; only a mismatching token is
blamed on the token (issue 18 item 1, also for ``doctor --token``).
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from zeroauth.cli.doctor.checks_blame import Promise, judge, server_setting
from zeroauth.cli.doctor.checks_token import authenticated
from zeroauth.cli.doctor.facts import Probe
from zeroauth.cli.doctor.fetch import Fetched

URL = "https://mcp.example.com/mcp"
ISSUER = "https://auth.example.com"
PROMISE = Promise((URL,), (ISSUER,), ("files:read",), ("files:read",))
NOW = 1_800_000_000.0


def token(**payload: Any) -> str:
    base = {"iss": ISSUER, "aud": URL, "exp": NOW + 3600, "iat": NOW - 10, "scope": "files:read"}
    claims = {k: v for k, v in {**base, **payload}.items() if v is not None}
    return jwt.encode(claims, "k" * 64, algorithm="HS256")


def test_s19_a_matching_token_blames_the_server() -> None:
    verdict = judge(token(), PROMISE, NOW)
    assert (verdict.blame, verdict.mismatches, verdict.issuer) == ("server", (), ISSUER)
    assert judge(token(aud=[URL, "https://x.example"]), PROMISE, NOW).blame == "server"


@pytest.mark.parametrize(("claims", "says"), [
    ({"iss": ISSUER + "/"}, "iss"),  # C-45: a trailing slash makes another issuer
    ({"aud": "https://other.example/mcp"}, "aud"),  # S-20 / RFC 8707
    ({"aud": None}, "aud"),
    ({"exp": NOW - 5}, "expired"),
    ({"iat": NOW + 3600}, "iat"),  # minted by an issuer whose clock runs ahead
    ({"scope": "other"}, "files:read"),  # C-37: not the scopes asked for
])  # fmt: skip
def test_a_mismatching_token_is_blamed_on_the_token(claims: dict[str, Any], says: str) -> None:
    verdict = judge(token(**claims), PROMISE, NOW)
    assert verdict.blame == "token"
    assert any(says in m for m in verdict.mismatches), verdict.mismatches


def test_an_opaque_token_cannot_be_judged() -> None:
    assert judge("opaque-access-token", PROMISE, NOW).blame == "unknown"


@pytest.mark.parametrize(("said", "setting"), [
    ("token issuer mismatch", "issuer="),
    ("token audience does not include this resource", "resource="),
    ("the authorization server's signing keys are unavailable", "jwks_uri="),
    ("no signing key for kid 'abc' and alg ES256", "jwks_uri="),
    ("signature verification failed", "jwks_uri="),
    ("token expired", "clock"),
    ("token not yet valid (iat)", "clock"),
    (None, "issuer="),  # no description: every likely setting
])  # fmt: skip
def test_the_likely_setting_from_the_servers_reason(said: str | None, setting: str) -> None:
    assert setting in server_setting(said, (ISSUER,), URL)


def _refusal(description: str) -> Probe:
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return Probe.of(Fetched("POST", URL, 401, (("www-authenticate", challenge),)))


def test_s19_token_option_quotes_the_server_and_names_the_setting() -> None:
    """The old fix blamed the token ("get a new one") whatever the token was."""
    [s19, s12] = authenticated(
        _refusal("token issuer mismatch"), URL, token=token(), promise=PROMISE, now=NOW
    )
    assert (s19.id, s19.status, s12.id) == ("S-19", "fail", "S-12")
    assert "verifier" in s19.title
    assert '"token issuer mismatch"' in (s19.fix or "")
    assert "issuer=" in (s19.fix or "")
    assert "get a new one" not in (s19.fix or "")


def test_s19_a_token_for_another_issuer_is_still_the_tokens_fault() -> None:
    [s19, _] = authenticated(
        _refusal("token issuer mismatch"),
        URL,
        token=token(iss="https://elsewhere.example"),
        promise=PROMISE,
        now=NOW,
    )
    assert "get a new one" in (s19.fix or "")
    assert "elsewhere.example" in (s19.fix or "")
    assert "verifier" not in s19.title


def test_s19_opaque_token_says_it_cannot_judge() -> None:
    [s19, _] = authenticated(_refusal("inactive"), URL, token="opaque", promise=PROMISE, now=NOW)
    assert "cannot" in (s19.fix or "")
    assert "opaque" not in (s19.found or "")
