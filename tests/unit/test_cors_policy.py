"""Which origins a resource server lets browsers read from (Fetch Standard §3.2.3), sans-IO.

The end-to-end behaviour (preflights through uvicorn, headless Chromium) is tested in
``tests/integration/test_cors.py`` and ``tests/browser/test_cors_browser.py``.
"""

from __future__ import annotations

import pytest

from zeroauth.server._cors import LOOPBACK_ORIGINS, CorsPolicy, cors_request


def scope(method: str, *headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "method": method, "path": "/mcp", "headers": list(headers)}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (b"http://localhost:6274", b"http://localhost:6274"),
        (b"http://localhost", b"http://localhost"),  # default port: no port in the origin
        (b"http://127.0.0.1:5173", b"http://127.0.0.1:5173"),
        (b"http://[::1]:80", b"http://[::1]:80"),
        (b"HTTP://LOCALHOST:3000", b"http://localhost:3000"),
        (b"https://localhost:6274", None),  # another scheme is another origin
        (b"http://localhost:6274.evil.example", None),
        (b"http://localhost.evil.example", None),
        (b"http://localhost:", None),
        (b"null", None),  # opaque origins (sandboxed frames, file:)
    ],
)
def test_fetch_3_2_port_wildcards_match_digits_only(origin, allowed):
    assert CorsPolicy(LOOPBACK_ORIGINS).allow_origin(origin) == allowed


def test_fetch_3_2_3_any_origin_is_answered_with_the_wildcard():
    policy = CorsPolicy(["*"])
    assert policy.allow_origin(b"https://anything.example") == b"*"
    assert policy.allow_origin(b"null") == b"*"


def test_default_origins_follow_the_resource_host():
    assert CorsPolicy.for_resource("http://127.0.0.1:8000/mcp", None).enabled
    assert CorsPolicy.for_resource("http://[::1]:8000/mcp", None).enabled
    assert CorsPolicy.for_resource("http://localhost:8000/mcp", None).enabled
    assert not CorsPolicy.for_resource("https://mcp.example.com/mcp", None).enabled
    assert not CorsPolicy.for_resource("http://127.0.0.1:8000/mcp", []).enabled
    chosen = CorsPolicy.for_resource("https://mcp.example.com/mcp", ["https://app.example"])
    assert chosen.allow_origin(b"https://app.example") == b"https://app.example"


def test_fetch_3_2_2_only_options_with_origin_and_request_method_is_a_preflight():
    origin = (b"origin", b"http://localhost:1")
    method = (b"access-control-request-method", b"POST")
    assert cors_request(scope("OPTIONS", origin, method)) == (b"http://localhost:1", True)
    assert cors_request(scope("OPTIONS", origin)) == (b"http://localhost:1", False)
    assert cors_request(scope("OPTIONS", method)) == (None, False)
    assert cors_request(scope("POST", origin, method)) == (b"http://localhost:1", False)


def test_fetch_3_2_3_preflight_and_response_headers():
    policy = CorsPolicy(["https://app.example"], expose_headers=("WWW-Authenticate",))
    status, headers, body = policy.preflight(b"https://app.example")
    found = dict(headers)
    assert status == 204
    assert body == b""
    assert found[b"access-control-allow-origin"] == b"https://app.example"
    assert b"Authorization" in found[b"access-control-allow-headers"]
    assert b"access-control-allow-credentials" not in found
    assert policy.preflight(b"https://evil.example")[0] == 403
    assert (
        dict(policy.response_headers(b"https://app.example") or [])[
            b"access-control-expose-headers"
        ]
        == b"WWW-Authenticate"
    )
    assert policy.response_headers(b"https://evil.example") is None
