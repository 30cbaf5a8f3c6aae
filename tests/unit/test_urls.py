"""core.urls: https policy, SSRF address policy, redirect URIs (SEC-03..SEC-06, C-50).

Vectors: tests/vectors/ssrf.json (SPEC.md §3.10 and the authorization-endpoint rows of §3.8),
tests/vectors/redirect_uris.json (SPEC.md §3.8). Hostnames are only parsed, never contacted.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroauth.core.errors import InvalidInput, URLPolicyError
from zeroauth.core.urls import (
    DEVELOPMENT,
    PRODUCTION,
    URLPolicy,
    check_redirect_uri,
    is_loopback_host,
    origin,
)

VECTORS = Path(__file__).parent.parent / "vectors"
SSRF = json.loads((VECTORS / "ssrf.json").read_text())
REDIRECTS = json.loads((VECTORS / "redirect_uris.json").read_text())["vectors"]
POLICIES = {
    "production": PRODUCTION,
    "development": DEVELOPMENT,
    "internal": URLPolicy(block_private=False),
}


def _cases(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(row, column, id=f"{row['id']}-{column}")
        for row in rows
        for column in columns
        if column in row
    ]


@pytest.mark.parametrize(("vector", "policy"), _cases(SSRF["urls"], ("production", "development")))
def test_sec03_sec06_check_url_vectors(vector: dict[str, Any], policy: str) -> None:
    expected = vector[policy]
    check = POLICIES[policy].check_url
    if expected == "allow":
        assert check(vector["url"], field="authorization_endpoint") == vector["url"]
        return
    with pytest.raises(URLPolicyError) as info:
        check(vector["url"], field="authorization_endpoint")
    assert info.value.requirement == expected, str(info.value)
    assert info.value.where == "authorization_endpoint"


@pytest.mark.parametrize(
    ("vector", "policy"), _cases(SSRF["addresses"], ("production", "development", "internal"))
)
def test_sec04_check_address_vectors(vector: dict[str, Any], policy: str) -> None:
    expected = vector[policy]
    check = POLICIES[policy].check_address
    if expected == "allow":
        check(vector["address"], url=vector["url"])
        return
    with pytest.raises(URLPolicyError) as info:
        check(vector["address"], url=vector["url"])
    assert info.value.requirement == expected
    assert info.value.where == vector["url"]


@pytest.mark.parametrize("vector", REDIRECTS, ids=[v["id"] for v in REDIRECTS])
def test_c50_redirect_uri_vectors(vector: dict[str, Any]) -> None:
    if vector["result"] == "allow":
        assert check_redirect_uri(vector["uri"]) == vector["uri"]
        return
    with pytest.raises(URLPolicyError) as info:
        check_redirect_uri(vector["uri"])
    assert info.value.requirement in ("C-50", "SEC-06")


def test_sec05_requirement_parameter_names_the_callers_rule() -> None:
    with pytest.raises(URLPolicyError) as info:
        PRODUCTION.check_url(
            "http://as.example.com/token", field="token_endpoint", requirement="C-24"
        )
    assert info.value.requirement == "C-24"
    assert "token_endpoint" in str(info.value)


def test_sec04_every_ssrf_vector_of_spec_3_10_is_refused_in_production() -> None:
    spec_rows = [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/api",
        "http://192.168.1.1/admin",
        "http://172.16.5.4/",
        "http://localhost:6379/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
    ]
    listed = {row["url"] for row in SSRF["urls"]}
    assert set(spec_rows) <= listed
    for url in spec_rows:
        with pytest.raises(URLPolicyError):
            PRODUCTION.check_url(url, field="resource_metadata")


def test_sec04_redirect_hop_to_metadata_address_is_a_vector() -> None:
    ids = {row["id"] for row in SSRF["addresses"]}
    assert "SSRF-redirect-to-metadata" in ids


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost.evil.example", False),
        ("127.1", False),
        ("0177.0.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_c50_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Auth.Example.COM/Path?q#f", "https://auth.example.com"),
        ("HTTPS://host:443/x", "https://host:443"),
        ("http://[::1]:8080/mcp", "http://[::1]:8080"),
        ("https://host", "https://host"),
    ],
)
def test_origin_lowercases_scheme_and_host_and_keeps_port(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize("url", ["host/path", "/path", "", "https://[::1/"])
def test_origin_refuses_relative_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        origin(url)


@pytest.mark.parametrize("value", [None, 42, ["https://a.example"], "x" * 9000])
def test_sec06_check_url_refuses_non_strings_and_huge_values(value: Any) -> None:
    with pytest.raises(URLPolicyError):
        PRODUCTION.check_url(value, field="jwks_uri")


def test_sec04_block_private_off_still_refuses_loopback_without_dev_opt_in() -> None:
    internal = URLPolicy(block_private=False)
    assert internal.check_url("https://10.0.0.1/", field="f") == "https://10.0.0.1/"
    with pytest.raises(URLPolicyError):
        internal.check_url("https://127.0.0.1/", field="f")
    with pytest.raises(URLPolicyError):
        internal.check_url("https://localhost/", field="f")


def test_sec05_policies_are_frozen_values() -> None:
    assert URLPolicy() == PRODUCTION
    assert DEVELOPMENT.allow_loopback
    assert DEVELOPMENT.block_private
    with pytest.raises(AttributeError):
        PRODUCTION.allow_loopback = True  # type: ignore[misc]


def test_sec04_error_names_url_and_hint_but_is_bounded() -> None:
    url = "https://10.0.0.1/" + "a" * 5000
    with pytest.raises(URLPolicyError) as info:
        PRODUCTION.check_url(url, field="authorization_servers[0]")
    text = str(info.value)
    assert "SEC-04" in text
    assert "Hint:" in text
    assert len(text) < 1500


def test_public_api_is_pinned() -> None:
    from zeroauth.core import urls

    assert sorted(urls.__all__) == sorted(
        [
            "DEVELOPMENT",
            "OPERATOR",
            "PRODUCTION",
            "URLPolicy",
            "check_redirect_uri",
            "is_loopback_host",
            "origin",
        ]
    )


_URLISH = st.text(
    alphabet=st.sampled_from(list("htps:/[]@%#?.0x17fF:-_ \\\t\u00e9lochs")), max_size=40
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_URLISH, st.from_regex(r"https?://[0-9a-fx.:\[\]%]{0,30}/?", fullmatch=True)))
def test_sec06_check_url_raises_only_url_policy_errors(url: str) -> None:
    for policy in POLICIES.values():
        with contextlib.suppress(URLPolicyError):
            assert policy.check_url(url, field="f") == url
    with contextlib.suppress(URLPolicyError):
        check_redirect_uri(url)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses())
def test_sec04_check_address_agrees_with_ipaddress_is_global(address: Any) -> None:
    text = str(address)
    try:
        PRODUCTION.check_address(text, url="https://x.example/")
    except URLPolicyError:
        return
    inner = address.ipv4_mapped or address.sixtofour if address.version == 6 else address
    assert (inner or address).is_global
