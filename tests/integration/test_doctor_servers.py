"""``zeroauth doctor`` against correct servers: everything passes.

- the demo MCP server (official SDK) protected by zeroauth, with zeroauth's dev AS;
- the same server protected for the real authorization server of the test bed
  (``oidc-provider``), with and without a real token from it;
- the command itself: exit status, ``--json`` document, the table, the URL policy default.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.broken_server import Knobs, broken_app
from tests.realas.fixtures import RealASFactory, obtain_tokens
from zeroauth.cli.app import app
from zeroauth.cli.doctor import DoctorOptions, Report, diagnose
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.mcp_server import demo_app

realas = pytest.mark.realas


def assert_all_pass(report: Report) -> None:
    bad = [(c.id, c.status, c.found, c.fix) for c in report.checks if c.status in ("warn", "fail")]
    assert bad == []
    assert report.ok
    assert report.counts()["pass"] >= 25


def test_demo_server_with_the_dev_as_passes_everything(demo):
    report = diagnose(demo.url, DoctorOptions(policy=DEVELOPMENT))
    assert_all_pass(report)
    ids = {c.id for c in report.checks}
    assert {
        "S-10",
        "S-11",
        "S-13",
        "S-08",
        "S-09",
        "C-03",
        "C-09",
        "S-05",
        "C-15",
        "C-17",
        "C-18",
        "C-19",
        "AS-05",
        "C-22",
        "C-23",
        "C-28",
        "C-31",
        "X-CORS",
    } <= ids


@realas
def test_demo_server_for_the_real_authorization_server_passes_everything(
    real_as_factory: RealASFactory,
):
    server = real_as_factory(scopes="notes:read notes:write")
    with serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", server.issuer)) as mcp:
        url = mcp.url("/mcp")
        report = diagnose(url, DoctorOptions(policy=DEVELOPMENT))
        assert_all_pass(report)
        [located] = report.by_id("C-14")  # a path issuer: /realms/test
        assert located.found == f"{server.metadata_url} (RFC 8414 path-inserted)"
        token = obtain_tokens(server, resource=url, scope="notes:read")["access_token"]
        with_token = diagnose(url, DoctorOptions(policy=DEVELOPMENT, token=token))
    assert_all_pass(with_token)
    for rid in ("S-19", "S-20", "C-45", "C-37"):
        assert {c.status for c in with_token.by_id(rid)} == {"pass"}
    assert token not in json.dumps(with_token.to_json())


def doctor_cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["doctor", *args], input=input)


def test_cli_json_document_and_exit_status(demo):
    result = doctor_cli(demo.url, "--allow-loopback", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"url", "ok", "checks"}
    assert data["url"] == demo.url
    assert data["ok"] is True
    for check in data["checks"]:
        assert set(check) >= {"id", "status", "found", "expected", "fix"}
        assert check["status"] in ("pass", "warn", "fail", "n/a")


def test_cli_table_names_each_requirement(demo):
    result = doctor_cli(demo.url, "--allow-loopback")
    assert result.exit_code == 0, result.output
    for text in ("S-10", "C-17", "C-18", "Protected resource metadata", "0 fail", "OK"):
        assert text in result.stdout


def test_cli_exit_status_is_1_on_a_failure_with_the_fix_in_the_table():
    with serve_asgi(factory=lambda base: broken_app(base, Knobs(pkce=False))) as server:
        result = doctor_cli(server.url("/mcp"), "--allow-loopback")
        as_json = doctor_cli(server.url("/mcp"), "--allow-loopback", "--json")
    assert result.exit_code == 1
    assert "C-18" in result.stdout
    assert "FAILED" in result.stdout
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["ok"] is False


def test_cli_strict_turns_the_resource_warning_into_a_failure():
    with serve_asgi(factory=lambda base: broken_app(base, Knobs(prm_resource="origin"))) as s:
        lenient = doctor_cli(s.url("/mcp"), "--allow-loopback")
        strict = doctor_cli(s.url("/mcp"), "--allow-loopback", "--strict", "--json")
    assert lenient.exit_code == 0
    assert strict.exit_code == 1
    [c09] = [c for c in json.loads(strict.stdout)["checks"] if c["status"] == "fail"]
    assert c09["id"] == "C-09"


def test_cli_loopback_is_refused_by_default_before_any_request(demo):
    result = doctor_cli(demo.url, "--json")
    assert result.exit_code == 1
    [check] = json.loads(result.stdout)["checks"]
    assert check["id"] == "SEC-04"
    assert "--allow-loopback" in check["fix"]


def test_cli_private_address_is_refused():
    result = doctor_cli("http://10.0.0.1/mcp", "--allow-loopback", "--json")
    [check] = json.loads(result.stdout)["checks"]
    assert (check["id"], check["status"]) == ("SEC-04", "fail")
    assert "private" in check["found"]


def test_cli_bad_url_is_c35():
    result = doctor_cli("mcp.example.com/mcp", "--json")
    assert result.exit_code == 1
    [check] = json.loads(result.stdout)["checks"]
    assert check["id"] == "C-35"


def test_cli_token_from_stdin_is_checked_and_never_printed(demo):
    token = "not-a-jwt-but-a-secret-value"
    result = doctor_cli(demo.url, "--allow-loopback", "--token", "-", input=token + "\n")
    assert token not in result.output
    assert "S-19" in result.stdout  # the server refuses it (401 invalid_token)
    assert result.exit_code == 1
    as_json = doctor_cli(demo.url, "--allow-loopback", "--json", "--token", "-", input=token)
    checks = json.loads(as_json.stdout)["checks"]
    assert {(c["id"], c["status"]) for c in checks if c["section"] == "Token"} == {
        ("S-19", "fail"),
        ("S-12", "pass"),
        ("S-20", "n/a"),
    }


def test_doctor_finds_a_server_requiring_dpop_behind_an_as_without_it():
    """The server-side mistake: the PRM says dpop_bound_access_tokens_required, the AS (a dev
    AS with DPoP off, as Entra ID) issues no DPoP-bound tokens, so every client is refused
    (RFC 9449 §5.1, RFC 9728 §2)."""
    from tests.helpers.demo import serve_demo
    from zeroauth.server import DPoP

    with (
        serve_demo(dpop=False) as bearer_only,
        serve_asgi(factory=lambda base: demo_app(
            f"{base}/mcp", bearer_only.issuer, dpop=DPoP(required=True)
        )) as served,
    ):  # fmt: skip
        report = diagnose(served.url("/mcp"), DoctorOptions(policy=DEVELOPMENT))
    [check] = [c for c in report.checks if c.id == "X-DPOP"]
    assert check.status == "fail"
    assert "requires DPoP" in (check.found or "")
    assert not report.ok
