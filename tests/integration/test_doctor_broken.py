"""``zeroauth doctor`` against deliberately broken servers on loopback, one per failure mode.

Each server is one small Starlette app (MCP endpoint, PRM, and the AS metadata of an issuer at
``<base>/as``), correct except for one knob. The baseline (no knob turned) must come out with
no warning and no failure, so every test below shows the doctor noticing exactly the broken
thing: the requirement ID, its status, and a fix that names what to change.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.broken_server import Knobs, broken_app
from zeroauth.cli.doctor import DoctorOptions, Fetcher, Report, diagnose
from zeroauth.core.urls import DEVELOPMENT


@dataclass
class Served:
    base: str
    fetcher: Fetcher

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def doctor(self, **options: Any) -> Report:
        options.setdefault("policy", DEVELOPMENT)
        return diagnose(self.url, DoctorOptions(**options), fetcher=self.fetcher)


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(knobs)`` starts a broken server for this test; one recording fetcher for all."""
    with contextlib.ExitStack() as stack:
        fetcher = stack.enter_context(Fetcher(DEVELOPMENT, timeout=5))

        def start(knobs: Knobs) -> Served:
            app = stack.enter_context(serve_asgi(factory=lambda base: broken_app(base, knobs)))
            return Served(app.base_url, fetcher)

        yield start


def only(report: Report, id: str, status: str) -> list[Any]:
    """The checks with this ID and status (there must be at least one)."""
    found = [c for c in report.by_id(id) if c.status == status]
    assert found, [(c.id, c.status, c.found) for c in report.checks]
    return found


def problems(report: Report) -> set[tuple[str, str]]:
    return {(c.id, c.status) for c in report.checks if c.status in ("warn", "fail")}


def token_for(served: Served, **claims: Any) -> str:
    payload = {
        "iss": f"{served.base}/as",
        "aud": served.url,
        "exp": int(time.time()) + 600,
        "scope": "notes:read",
        **claims,
    }
    return jwt.encode(payload, "k" * 64, algorithm="HS256")


def test_baseline_broken_server_without_a_broken_knob_passes_everything(serve):
    report = serve(Knobs()).doctor()
    assert problems(report) == set()
    assert report.ok
    ids = {c.id for c in report.checks if c.status == "pass"}
    for wanted in (
        "S-10",
        "S-11",
        "S-13",
        "S-08",
        "S-09",
        "C-09",
        "C-14",
        "C-17",
        "C-18",
        "C-19",
        "C-22",
        "C-31",
        "AS-05",
        "X-CORS",
        "X-CACHE",
    ):
        assert wanted in ids


def test_c09_resource_is_the_origin_behind_a_header_url(serve):
    served = serve(Knobs(prm_resource="origin"))
    report = served.doctor()
    assert problems(report) == {("C-09", "warn")}
    [check] = only(report, "C-09", "warn")
    assert check.where == f"{served.base}/.well-known/oauth-protected-resource/mcp"
    assert f'"resource": "{served.url}"' in check.fix
    strict = served.doctor(strict=True)
    assert not strict.ok
    [check] = only(strict, "C-09", "fail")
    assert "RFC 9728 §3.3" in check.fix
    assert strict.by_id("C-17") == []  # a strict client never contacts its AS (A1)


def test_s09_prm_only_at_the_root(serve):
    served = serve(Knobs(prm_at=frozenset({"root"}), header_url="root"))
    report = served.doctor()
    assert problems(report) == {("S-09", "warn")}
    [check] = only(report, "S-09", "warn")
    assert check.fix.startswith(f"serve the document at {served.base}/.well-known/")
    assert report.ok


def test_s08_prm_only_path_inserted(serve):
    served = serve(Knobs(prm_at=frozenset({"path"})))
    report = served.doctor()
    assert problems(report) == {("S-08", "warn")}
    [check] = only(report, "S-08", "warn")
    assert f"{served.base}/.well-known/oauth-protected-resource" in check.fix


def test_s10_no_www_authenticate_on_the_401(serve):
    report = serve(Knobs(challenge=False)).doctor()
    [check] = only(report, "S-10", "fail")
    assert check.found == "HTTP 401 without WWW-Authenticate"
    assert "resource_metadata" in check.fix
    assert not report.ok
    only(report, "S-09", "pass")  # the well-known fallback still finds everything (C-03)
    only(report, "C-17", "pass")


def test_s10_403_to_a_request_without_a_token(serve):
    report = serve(Knobs(unauth_status=403)).doctor()
    [check] = only(report, "S-10", "fail")
    assert "401" in check.fix


def test_s11_invalid_token_error_on_a_request_without_a_token(serve):
    report = serve(Knobs(challenge_error="invalid_token")).doctor()
    assert problems(report) == {("S-11", "warn")}
    [check] = only(report, "S-11", "warn")
    assert check.found == 'error="invalid_token" on a request without a token'
    assert "RFC 6750 §3.1" in check.fix


def test_c14_as_metadata_only_at_the_openid_appended_form(serve):
    served = serve(Knobs(as_forms=frozenset({"openid-appended"})))
    report = served.doctor()
    assert problems(report) == {("C-14", "warn")}
    [check] = only(report, "C-14", "warn")
    assert check.found.startswith(f"only at {served.base}/as/.well-known/openid-configuration")
    assert f"{served.base}/.well-known/oauth-authorization-server/as" in check.fix


def test_c17_issuer_mismatch(serve):
    served = serve(Knobs(issuer_in_doc="https://honest.example"))
    report = served.doctor()
    assert problems(report) == {("C-17", "fail")}
    [check] = only(report, "C-17", "fail")
    assert check.found == "https://honest.example"
    assert check.expected == f"{served.base}/as"
    assert report.by_id("C-18") == []  # a client stops at the wrong document


def test_c18_no_code_challenge_methods_supported(serve):
    report = serve(Knobs(pkce=False)).doctor()
    assert problems(report) == {("C-18", "fail")}
    [check] = only(report, "C-18", "fail")
    assert '"code_challenge_methods_supported": ["S256"]' in check.fix


def test_c22_no_registration_option(serve):
    served = serve(Knobs(registration=False))
    report = served.doctor()
    assert problems(report) == {("C-22", "fail")}
    [check] = only(report, "C-22", "fail")
    assert f"zeroauth config add-client {served.base}/as --client-id" in check.fix


def test_c22_no_registration_option_but_a_configured_client(serve):
    from zeroauth.core.registration import ClientInfo

    served = serve(Knobs(registration=False))
    client = ClientInfo("cli-client", f"{served.base}/as", "pre-registered")
    report = served.doctor(preregistered={client.issuer: client})
    assert problems(report) == set()
    only(report, "C-27", "pass")
    [check] = only(report, "C-22", "pass")
    assert check.found == "zeroauth would use the pre-registered client"


def test_sec05_http_as_on_a_public_name_is_refused_before_any_request(serve):
    served = serve(Knobs(as_issuer="http://auth.example.com"))
    report = served.doctor()
    assert problems(report) == {("SEC-05", "fail")}
    [check] = only(report, "SEC-05", "fail")
    assert check.found.startswith("http://auth.example.com: https is required")
    assert "did not contact it" in check.fix
    assert all("example.com" not in url for _, url in served.fetcher.log)


def test_s15_403_without_scope(serve):
    served = serve(Knobs(forbid_without_scope=True))
    report = served.doctor(token=token_for(served))
    [check] = only(report, "S-15", "fail")
    assert check.found == 'error="insufficient_scope" without scope='
    assert "scope=" in check.fix
    only(report, "S-20", "pass")  # the token itself is fine
    assert not report.ok


def test_token_checks_pass_for_a_good_token_and_never_show_it(serve):
    served = serve(Knobs())
    token = token_for(served)
    report = served.doctor(token=token)
    assert problems(report) == set()
    for rid in ("S-19", "S-20", "C-45", "C-37"):
        only(report, rid, "pass")
    assert token not in repr(report.to_json())


def test_token_claims_for_another_resource_expired_and_scopeless(serve):
    served = serve(Knobs())
    token = token_for(
        served, aud="https://other.example/mcp", exp=int(time.time()) - 120, scope="other"
    )
    report = served.doctor(token=token)
    only(report, "S-20", "fail")
    [expired] = [c for c in only(report, "S-19", "fail") if c.title == "Token is not expired"]
    assert expired.found.startswith("expired 2 min")
    [scopes] = only(report, "C-37", "warn")
    assert "missing: notes:read" in scopes.fix


def test_c13_unreachable_authorization_server_is_not_told_to_publish_metadata(serve):
    """C-13: the PRM names an authorization server nobody answers at (a closed loopback port):
    the fix says it could not be reached, not "publish RFC 8414 metadata" (issue: an
    unreachable AS was reported as missing metadata)."""
    from tests.helpers.redis_service import closed_loopback_port

    dead = f"http://127.0.0.1:{closed_loopback_port()}/as"
    report = serve(Knobs(as_issuer=dead)).doctor()
    [check] = only(report, "C-13", "fail")
    assert "could not be reached" in check.fix
    assert dead in check.fix
    assert "publish" not in check.fix


def test_c13_metadata_missing_is_told_to_publish_it(serve):
    """C-13: an authorization server that answers 404 at every well-known form is told where
    to publish its metadata."""
    report = serve(Knobs(as_forms=frozenset())).doctor()
    [check] = only(report, "C-13", "fail")
    assert check.fix.startswith("publish RFC 8414 metadata at ")


def test_x_cors_preflight_authenticated_is_a_warning(serve):
    """Issue 18 (browser-based clients): a CORS preflight carries no credentials (Fetch
    Standard §4.8), so a server that authenticates ``OPTIONS /mcp`` (401) locks out every
    browser-based MCP client; the doctor says so and names the fix."""
    report = serve(Knobs(authenticate_preflight=True)).doctor()
    assert problems(report) == {("X-CORS", "warn")}
    [check] = only(report, "X-CORS", "warn")
    assert check.title == "CORS preflight answered before authentication"
    assert "401" in check.found
    assert "before authentication" in check.fix
    assert report.ok  # advice, not a failure
