"""The doctor's checks as pure functions of fetched facts (no I/O), and its fetcher's policy.

Each test builds the ``Fetched`` responses a server would give and asserts the requirement ID,
status and fix the doctor reports. Example hosts are parsed, never contacted: the fetcher tests
only use URLs its policy refuses before any connection.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from zeroauth.cli.doctor import checks_http, checks_probe, checks_resource, checks_server
from zeroauth.cli.doctor.checks_registration import registration
from zeroauth.cli.doctor.checks_token import authenticated, claims
from zeroauth.cli.doctor.facts import ASFetch, PRMFetch, Probe
from zeroauth.cli.doctor.fetch import Fetched, Fetcher
from zeroauth.cli.doctor.model import Check, Report
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.registration import ClientInfo
from zeroauth.core.resource_metadata import prm_candidates
from zeroauth.core.server_metadata import ServerMetadata, metadata_candidates
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

URL = "https://mcp.example.com/mcp"
ISSUER = "https://auth.example.com"
PRM_PATH = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
PRM_ROOT = "https://mcp.example.com/.well-known/oauth-protected-resource"


def response(url: str, status: int = 200, body: Any = None, **headers: str) -> Fetched:
    data = b"" if body is None else json.dumps(body).encode()
    items = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Fetched("GET", url, status, items, data)


def statuses(checks: list[Check]) -> dict[str, str]:
    return {c.id: c.status for c in checks}


# --- the request without a token (S-10, S-11, S-13, S-18, S-08) --------------------------------


def probe(status: int, *challenges: str) -> Probe:
    headers = tuple(("www-authenticate", c) for c in challenges)
    return Probe.of(Fetched("POST", URL, status, headers))


GOOD = f'Bearer resource_metadata="{PRM_PATH}", scope="files:read"'


def test_s10_good_challenge_passes_everything():
    checks = checks_probe.unauthenticated(probe(401, GOOD), URL)
    assert statuses(checks) == {
        "S-10": "pass",
        "S-18": "pass",
        "S-11": "pass",
        "S-13": "pass",
        "S-08": "pass",
    }


@pytest.mark.parametrize(
    ("status", "headers", "found"),
    [
        (401, (), "HTTP 401 without WWW-Authenticate"),
        (401, ('Basic realm="x"',), "HTTP 401, challenges: basic"),
        (403, (GOOD,), "HTTP 403 to a request that carried no token"),
        (404, (), "HTTP 404"),
    ],
)
def test_s10_failures(status, headers, found):
    [check] = checks_probe.unauthenticated(probe(status, *headers), URL)[:1]
    assert (check.id, check.status, check.found) == ("S-10", "fail", found)
    assert check.fix


def test_s10_unprotected_server_is_a_warning():
    [check] = checks_probe.unauthenticated(probe(200), URL)
    assert (check.id, check.status) == ("S-10", "warn")


def test_s11_s13_s08_s06_warnings():
    checks = checks_probe.unauthenticated(
        probe(401, 'Bearer error="invalid_token", scope="a offline_access"'), URL
    )
    assert statuses(checks) == {
        "S-10": "pass",
        "S-18": "pass",
        "S-11": "warn",
        "S-13": "pass",
        "S-06": "warn",
        "S-08": "warn",
    }
    bare = checks_probe.unauthenticated(probe(401, f'Bearer resource_metadata="{PRM_PATH}"'), URL)
    assert statuses(bare)["S-13"] == "warn"


def test_s18_invalid_challenge_syntax_fails_but_the_client_still_reads_it():
    checks = checks_probe.unauthenticated(probe(401, f"Bearer resource_metadata={PRM_PATH}"), URL)
    assert statuses(checks)["S-18"] == "fail"  # W16: unquoted URL (strict parse fails)
    assert statuses(checks)["S-08"] == "pass"  # lenient client reading still finds it


def test_s25_server_tls():
    assert checks_probe.server_tls(URL).status == "pass"
    assert checks_probe.server_tls("http://127.0.0.1:8000/mcp").found == (
        "http on loopback (development opt-in)"
    )


# --- protected resource metadata (C-03, S-08, S-09, C-09, S-0x) -------------------------------


def prm_doc(resource: str = URL, **extra: Any) -> dict[str, Any]:
    return {"resource": resource, "authorization_servers": [ISSUER], **extra}


def prm_fetches(header: str | None, served: dict[str, Any]) -> list[PRMFetch]:
    out = []
    for candidate in prm_candidates(URL, header):
        body = served.get(candidate.url)
        status = 200 if body is not None else 404
        out.append(PRMFetch.of(candidate, response(candidate.url, status, body)))
    return out


def test_locations_all_served():
    checks = checks_resource.locations(
        prm_fetches(PRM_PATH, {PRM_PATH: prm_doc(), PRM_ROOT: prm_doc()}), URL
    )
    assert [(c.id, c.status) for c in checks] == [
        ("C-03", "pass"),
        ("S-09", "pass"),
        ("S-08", "pass"),
        ("C-03", "pass"),
    ]


def test_locations_only_root_warns_s09_only_path_warns_s08():
    root_only = checks_resource.locations(prm_fetches(None, {PRM_ROOT: prm_doc()}), URL)
    assert statuses(root_only)["S-09"] == "warn"
    path_only = checks_resource.locations(prm_fetches(None, {PRM_PATH: prm_doc()}), URL)
    assert statuses(path_only)["S-08"] == "warn"


def test_locations_broken_header_url_and_nothing_anywhere():
    checks = checks_resource.locations(prm_fetches("https://mcp.example.com/prm.json", {}), URL)
    assert [(c.id, c.status) for c in checks] == [
        ("C-03", "fail"),
        ("S-09", "fail"),
        ("S-08", "fail"),
        ("S-01", "fail"),
    ]


def test_locations_malformed_document_names_s02():
    checks = checks_resource.locations(
        prm_fetches(None, {PRM_PATH: {"resource": URL}, PRM_ROOT: prm_doc()}), URL
    )
    bad = [c for c in checks if c.title == "PRM document is valid"]
    assert [(c.id, c.status, c.where) for c in bad] == [("S-02", "fail", PRM_PATH)]


@pytest.mark.parametrize(
    ("header", "resource", "strict", "status", "usable"),
    [
        (PRM_PATH, URL, False, "pass", True),
        (PRM_PATH, "https://mcp.example.com", False, "warn", True),  # R4
        (PRM_PATH, "https://mcp.example.com", True, "fail", False),
        (PRM_PATH, "https://evil.example.com/mcp", False, "fail", False),  # R5, A1
        (None, URL + "/", False, "warn", True),  # R7
    ],
)
def test_c09_identity(header, resource, strict, status, usable):
    url = header or PRM_PATH
    [f] = [f for f in prm_fetches(header, {url: prm_doc(resource)}) if f.served]
    check, use = checks_resource.identity(f, URL, strict=strict)
    assert (check.id, check.status, use) == ("C-09", status, usable)


def test_c09_root_document_naming_the_origin_is_identical():
    [f] = [f for f in prm_fetches(None, {PRM_ROOT: prm_doc("https://mcp.example.com")}) if f.served]
    check, use = checks_resource.identity(f, URL, strict=True)
    assert (check.status, use) == ("pass", True)  # R3


def test_document_checks():
    doc = prm_doc(scopes_supported=["a", "offline_access"], bearer_methods_supported=["query"])
    [f] = [f for f in prm_fetches(None, {PRM_PATH: doc}) if f.served]
    checks = checks_resource.document(f, URL, allow_loopback=False)
    got = statuses(checks)
    assert got["S-02"] == "pass"
    assert got["S-25"] == "pass"
    assert got["S-06"] == "warn"
    assert got["S-28"] == "warn"
    assert got["S-07"] == "warn"  # no content-type in this fake response
    assert got["X-CORS"] == "warn"
    assert got["X-CACHE"] == "pass"


def test_x_cache_warns_on_a_long_max_age():
    long = response(PRM_PATH, cache_control="public, max-age=604800")
    assert checks_http.caching(long, "PRM", section="").status == "warn"
    short = response(PRM_PATH, cache_control="max-age=600")
    assert checks_http.caching(short, "PRM", section="").status == "pass"
    echoed = response(PRM_PATH, access_control_allow_origin=checks_http.DOCTOR_ORIGIN)
    assert checks_http.cors(echoed, "PRM", section="").status == "pass"


# --- authorization server (C-14/C-15, C-17, C-18, C-19, C-13, SEC-05, AS-05) ------------------


def as_doc(issuer: str = ISSUER, **extra: Any) -> dict[str, Any]:
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    return {**doc, **extra}


def as_fetch(issuer: str, served: dict[int, dict[str, Any]]) -> ASFetch:
    urls = metadata_candidates(issuer)
    responses = tuple(
        response(u, 200 if i in served else 404, served.get(i)) for i, u in enumerate(urls)
    )
    return ASFetch.of(issuer, urls, responses)


def test_discovery_first_url_and_issuer():
    f = as_fetch(ISSUER, {0: as_doc()})
    assert statuses(checks_server.discovery(f)) == {
        "SEC-05": "pass",
        "C-15": "pass",
        "C-17": "pass",
    }


def test_discovery_path_issuer_only_at_the_appended_form_warns_c14():
    issuer = "https://kc.example.com/realms/x"  # A3: Keycloak serves only the 3rd form
    f = as_fetch(issuer, {2: as_doc(issuer)})
    [located] = [c for c in checks_server.discovery(f) if c.id == "C-14"]
    assert located.status == "warn"
    assert located.found.startswith(f"only at {issuer}/.well-known/openid-configuration")


def test_discovery_issuer_mismatch_stops_even_if_a_later_document_is_right():
    f = as_fetch(ISSUER, {0: as_doc("https://honest.example"), 1: as_doc()})
    checks = checks_server.discovery(f)
    [c17] = [c for c in checks if c.id == "C-17"]
    assert (c17.status, c17.found, c17.expected) == ("fail", "https://honest.example", ISSUER)
    assert f.metadata is None  # I1: never skipped to the next candidate


def test_discovery_nothing_found_is_c13():
    checks = checks_server.discovery(as_fetch(ISSUER, {}))
    assert statuses(checks)["C-13"] == "fail"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"code_challenge_methods_supported": None}, {"C-18": "fail"}),
        ({"code_challenge_methods_supported": ["plain"]}, {"C-18": "pass", "C-19": "fail"}),
        ({"authorization_response_iss_parameter_supported": False}, {"AS-05": "warn"}),
        ({"response_types_supported": ["token"]}, {"C-13": "fail"}),
        ({"token_endpoint": "http://auth.example.com/token"}, {"SEC-05": "fail"}),
    ],
)
def test_capabilities(extra, expected):
    doc = {k: v for k, v in as_doc(**extra).items() if v is not None}
    checks = checks_server.capabilities(as_fetch(ISSUER, {0: doc}), PRODUCTION)
    got = statuses(checks)
    for rid, status in expected.items():
        assert got[rid] == status


def test_refused_issuer_is_never_fetched():
    fetcher = Fetcher(PRODUCTION)
    with pytest.raises(URLPolicyError) as info:
        fetcher.check("http://auth.example.com", field="authorization_servers")
    check = checks_server.refused("http://auth.example.com", info.value)
    assert (check.id, check.status) == ("SEC-05", "fail")
    assert fetcher.log == []
    fetcher.close()


# --- registration (C-22..C-31) ----------------------------------------------------------------


def metadata(**extra: Any) -> ServerMetadata:
    return ServerMetadata.from_json(as_doc(**extra), issuer=ISSUER, where="test")


def test_c22_no_option_fails_with_the_config_command():
    checks = registration(metadata(), preregistered=None, cimd_url=None, where="x")
    [c22] = [c for c in checks if c.id == "C-22"]
    assert c22.status == "fail"
    assert f"zeroauth config add-client {ISSUER}" in c22.fix


def test_c22_each_way_in():
    dcr = registration(
        metadata(registration_endpoint=f"{ISSUER}/reg"),
        preregistered=None,
        cimd_url=None,
        where="x",
    )
    assert statuses(dcr) == {
        "C-27": "n/a",
        "C-23": "n/a",
        "C-28": "pass",
        "C-22": "pass",
        "C-31": "pass",
    }
    cimd_only = registration(
        metadata(client_id_metadata_document_supported=True),
        preregistered=None,
        cimd_url=None,
        where="x",
    )
    assert statuses(cimd_only)["C-22"] == "pass"
    pre = ClientInfo(
        "abc",
        ISSUER,
        "pre-registered",
        client_secret="s",
        token_endpoint_auth_method="client_secret_post",
    )
    with_pre = registration(
        metadata(token_endpoint_auth_methods_supported=["client_secret_basic"]),
        preregistered=pre,
        cimd_url="https://app.example.com/c.json",
        where="x",
    )
    got = statuses(with_pre)
    assert (got["C-27"], got["C-24"], got["C-22"], got["C-31"]) == ("pass",) * 4


def test_c31_public_client_needs_none():
    checks = registration(
        metadata(
            registration_endpoint=f"{ISSUER}/reg",
            token_endpoint_auth_methods_supported=["client_secret_basic"],
        ),
        preregistered=None,
        cimd_url=None,
        where="x",
    )
    assert statuses(checks)["C-31"] == "warn"


def test_c24_bad_configured_cimd_url():
    checks = registration(
        metadata(), preregistered=None, cimd_url="https://app.example.com", where="x"
    )
    assert statuses(checks)["C-24"] == "fail"


# --- token (S-19, S-12, S-15, S-20, C-45, C-37) ------------------------------------------------


def test_authenticated_401_and_403():
    refused = authenticated(
        probe(401, 'Bearer error="invalid_token", error_description="expired"'), URL
    )
    assert statuses(refused) == {"S-19": "fail", "S-12": "pass"}
    no_error = authenticated(probe(401, GOOD), URL)
    assert statuses(no_error)["S-12"] == "fail"
    step_up = authenticated(
        probe(
            403, f'Bearer error="insufficient_scope", scope="a b", resource_metadata="{PRM_PATH}"'
        ),
        URL,
    )
    assert statuses(step_up) == {"S-19": "warn", "S-15": "pass"}
    no_metadata = authenticated(probe(403, 'Bearer error="insufficient_scope", scope="a b"'), URL)
    assert statuses(no_metadata) == {"S-19": "warn", "S-15": "warn"}  # S-15: and the metadata URL
    no_scope = authenticated(probe(403, 'Bearer error="insufficient_scope"'), URL)
    assert statuses(no_scope)["S-15"] == "fail"
    assert statuses(authenticated(probe(200), URL)) == {"S-19": "pass"}


def token(**payload: Any) -> str:
    base = {"iss": ISSUER, "aud": URL, "exp": int(time.time()) + 3600, "scope": "a b"}
    return jwt.encode({**base, **payload}, "x" * 64, algorithm="HS256")


def test_claims():
    now = time.time()
    good = claims(token(), resources=(URL,), issuers=(ISSUER,), scopes=("a",), now=now)
    assert statuses(good) == {"S-20": "pass", "C-45": "pass", "S-19": "pass", "C-37": "pass"}
    bad = claims(
        token(aud=["https://other.example"], iss="https://x.example", exp=now - 3600, scope="b"),
        resources=(URL,),
        issuers=(ISSUER,),
        scopes=("a",),
        now=now,
    )
    assert statuses(bad) == {"S-20": "fail", "C-45": "fail", "S-19": "fail", "C-37": "warn"}
    opaque = claims("opaque-value", resources=(URL,), issuers=(ISSUER,), scopes=None, now=now)
    assert statuses(opaque) == {"S-20": "n/a"}
    assert all("opaque-value" not in repr(c) for c in opaque)


# --- the report and the fetcher's policy ---------------------------------------------------------


def test_report_ok_counts_and_json():
    report = Report(URL, (Check("S-10", "pass", "t"), Check("S-13", "warn", "t", fix="f")))
    assert report.ok
    assert report.counts() == {"pass": 1, "warn": 1, "fail": 0, "n/a": 0}
    data = report.to_json()
    assert data["ok"] is True
    assert data["checks"][1]["fix"] == "f"
    failed = Report(URL, (Check("C-18", "fail", "t", fix="f"),))
    assert not failed.ok


@pytest.mark.parametrize(
    ("policy", "url", "requirement"),
    [
        (PRODUCTION, "http://127.0.0.1:8000/mcp", "SEC-04"),
        (PRODUCTION, "http://auth.example.com/x", "SEC-05"),
        (DEVELOPMENT, "http://10.0.0.1/x", "SEC-04"),
        (DEVELOPMENT, "http://169.254.169.254/latest/meta-data/", "SEC-04"),
        (DEVELOPMENT, "http://[::ffff:10.0.0.1]/x", "SEC-04"),
        (DEVELOPMENT, "file:///etc/passwd", "SEC-06"),
        (DEVELOPMENT, "http://0177.0.0.1/x", "SEC-04"),
    ],
)
def test_fetcher_refuses_by_policy_before_any_connection(policy, url, requirement):
    with Fetcher(policy) as fetcher:
        result = fetcher.get(url)
        posted = fetcher.post_json(url, {"a": 1})
        assert fetcher.log == []
    for r in (result, posted):
        assert r.status == 0
        assert r.requirement == requirement
        assert r.error.startswith("refused by the URL policy")


# --- X-DPOP: server and AS agree on sender-constrained tokens (RFC 9449 §5.1, RFC 9728 §2) ----


def _dpop_check(prm_extra: dict[str, Any], as_extra: dict[str, Any]) -> Check:
    from zeroauth.core.resource_metadata import ResourceMetadata

    prm = ResourceMetadata.from_json(
        {"resource": "https://mcp.example.com/mcp",
         "authorization_servers": ["https://as.example.com"], **prm_extra},
        where="prm",
    )  # fmt: skip
    md = ServerMetadata.from_json(
        {"issuer": "https://as.example.com", "token_endpoint": "https://as.example.com/token",
         "response_types_supported": ["code"], **as_extra},
        issuer="https://as.example.com", where="md",
    )  # fmt: skip
    return checks_server.dpop(prm, md, where="prm")


@pytest.mark.parametrize(
    ("prm_extra", "as_extra", "status"),
    [
        ({"dpop_bound_access_tokens_required": True}, {}, "fail"),  # nobody gets in
        ({"dpop_signing_alg_values_supported": ["PS256"]},
         {"dpop_signing_alg_values_supported": ["ES256"]}, "warn"),  # no common alg
        ({"dpop_bound_access_tokens_required": True,
          "dpop_signing_alg_values_supported": ["ES256"]},
         {"dpop_signing_alg_values_supported": ["ES256", "PS256"]}, "pass"),
        ({}, {"dpop_signing_alg_values_supported": ["ES256"]}, "pass"),  # clients send Bearer
        ({}, {}, "n/a"),
    ],
)  # fmt: skip
def test_x_dpop_server_and_as_agree(
    prm_extra: dict[str, Any], as_extra: dict[str, Any], status: str
) -> None:
    check = _dpop_check(prm_extra, as_extra)
    assert (check.id, check.status) == ("X-DPOP", status)
    if status == "fail":
        assert "enable DPoP at the authorization server" in (check.fix or "")
