"""``zeroauth doctor --format text|md|json|sarif``, ``--output``, ``--fail-on`` and several URLs.

The reports a CI pipeline reads (issue 18 item 8): the JSON schema ``zeroauth-doctor/1``, a
SARIF 2.1.0 log validated offline against the subset of the OASIS schema kept in
``tests/vectors/sarif-2.1.0-subset.schema.json`` (SARIF 2.1.0 §3.13 sarifLog, §3.14 run,
§3.49 reportingDescriptor, §3.27 result), Markdown, and the exit status by severity.
Servers on loopback: the demo (all pass) and ``broken_app`` without PKCE (C-18 fails) and with
an origin-wide PRM ``resource`` (C-09 warns).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.broken_server import Knobs, broken_app
from zeroauth._catalog import lookup
from zeroauth.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/vectors/sarif-2.1.0-subset.schema.json").read_text())


def doctor_cli(*args: str):
    return CliRunner().invoke(app, ["doctor", *args])


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    """C-18 fails (no PKCE) and C-09 warns (PRM ``resource`` is the origin)."""
    knobs = Knobs(pkce=False, prm_resource="origin")
    with serve_asgi(factory=lambda base: broken_app(base, knobs)) as server:
        yield server.url("/mcp")


@pytest.fixture(scope="module")
def warned() -> Iterator[str]:
    """Only C-09 warns."""
    with serve_asgi(factory=lambda base: broken_app(base, Knobs(prm_resource="origin"))) as s:
        yield s.url("/mcp")


def sarif_errors(log: object) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


def test_sarif_2_1_0_log_is_valid_and_names_rules_by_requirement_id(broken):
    result = doctor_cli(broken, "--allow-loopback", "--format", "sarif")
    assert result.exit_code == 1, result.output
    log = json.loads(result.stdout)
    assert sarif_errors(log) == []
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    assert run["artifacts"] == [{"location": {"uri": broken}}]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    assert {"C-18", "C-09", "S-10", "C-17"} <= set(ids)
    requirements = (ROOT / "docs/requirements.md").read_text()
    headings = {
        "-".join(re.sub(r"[^a-z0-9 -]", "", h.lower()).split())
        for h in re.findall(r"^## (.+)$", requirements, re.M)
    }
    for rule in rules:
        entry = lookup(rule["id"])
        assert entry is not None, rule["id"]
        assert rule["shortDescription"]["text"] == entry.text
        assert rule["helpUri"] == entry.source.link
        assert urlsplit(rule["helpUri"]).scheme == "https"  # §3.49.12: an absolute URI
        page, anchor = rule["properties"]["docs"].split("#")
        assert page == "docs/requirements.md"
        assert anchor in headings
        assert f"| {entry.id} |" in requirements
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"C-18": "error", "C-09": "warning"}  # pass and n/a are not results
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        [location] = r["locations"]
        assert location["physicalLocation"]["artifactLocation"] == {"uri": broken, "index": 0}
        assert r["message"]["text"]
    c18 = next(r for r in run["results"] if r["ruleId"] == "C-18")
    assert "Fix:" in c18["message"]["text"]
    assert rules[c18["ruleIndex"]]["defaultConfiguration"]["level"] == "error"  # a MUST


def test_the_offline_sarif_schema_can_fail(broken):
    """The validator is not a rubber stamp: a result without ``message``, an unknown level
    and a rule without ``id`` are each refused (SARIF 2.1.0 §3.27, §3.27.10, §3.49.3)."""
    log = json.loads(doctor_cli(broken, "--allow-loopback", "--format", "sarif").stdout)
    run = log["runs"][0]
    del run["results"][0]["message"]
    run["results"][1]["level"] = "fatal"
    del run["tool"]["driver"]["rules"][0]["id"]
    log["surprise"] = True
    errors = " ".join(sarif_errors(log))
    for text in ("'message' is a required property", "'fatal' is not one of", "'id' is a "):
        assert text in errors
    assert "Additional properties are not allowed" in errors


def test_json_format_stable_schema_for_ci(broken, demo):
    result = doctor_cli(broken, demo.url, "--allow-loopback", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["schema"] == "zeroauth-doctor/1"
    assert data["ok"] is False
    assert [r["url"] for r in data["reports"]] == [broken, demo.url]
    assert [r["ok"] for r in data["reports"]] == [False, True]
    assert data["counts"]["fail"] == 1
    for report in data["reports"]:
        for check in report["checks"]:
            assert {"check", "requirement", "severity", "status", "message", "fix", "url"} <= set(
                check
            )
            assert check["check"].startswith(check["requirement"] + "/")
            assert lookup(check["requirement"]) is not None
            assert check["url"]
    [c18] = [c for c in data["reports"][0]["checks"] if c["status"] == "fail"]
    assert (c18["check"], c18["severity"]) == (
        "C-18/as-advertises-pkce-code-challenge-methods-supported",
        "error",
    )
    again = json.loads(doctor_cli(broken, "--allow-loopback", "--format", "json").stdout)
    assert [c["check"] for c in again["reports"][0]["checks"]] == [
        c["check"] for c in data["reports"][0]["checks"]
    ]  # stable across runs


def test_json_flag_keeps_one_report_document(demo):
    data = json.loads(doctor_cli(demo.url, "--allow-loopback", "--json").stdout)
    assert data["url"] == demo.url
    assert data["schema"] == "zeroauth-doctor/1"
    assert "reports" not in data
    refused = doctor_cli(demo.url, "--allow-loopback", "--json", "--format", "md")
    assert refused.exit_code == 2  # a usage error


def test_markdown_report(broken):
    result = doctor_cli(broken, "--allow-loopback", "--format", "md")
    assert result.exit_code == 1
    md = result.stdout
    assert md.startswith("# zeroauth doctor\n")
    assert f"## {broken}\n" in md
    assert "**FAILED**: " in md
    assert "1 fail" in md
    assert "| ID | Status | Check | Found | Fix |" in md
    [row] = [line for line in md.splitlines() if line.startswith("| C-18 | fail |")]
    assert row.count(" | ") == 4  # five cells: no stray pipe broke the row
    assert "code_challenge_methods_supported" in row


def test_exit_status_by_severity(broken, warned, demo):
    """0 nothing at the threshold, 1 a failure, 3 warnings only with --fail-on warn."""
    assert doctor_cli(demo.url, "--allow-loopback", "--fail-on", "warn").exit_code == 0
    assert doctor_cli(warned, "--allow-loopback").exit_code == 0
    assert doctor_cli(warned, "--allow-loopback", "--fail-on", "warn").exit_code == 3
    assert doctor_cli(broken, "--allow-loopback", "--fail-on", "warn").exit_code == 1
    assert doctor_cli(broken, "--allow-loopback", "--fail-on", "never").exit_code == 0
    both = doctor_cli(warned, demo.url, "--allow-loopback", "--fail-on", "warn")
    assert both.exit_code == 3  # the worst over every URL
    assert both.stdout.count("zeroauth doctor ") == 2  # one text report per URL


def test_output_file_for_every_format(broken, tmp_path):
    for fmt in ("text", "md", "json", "sarif"):
        out = tmp_path / f"report.{fmt}"
        result = doctor_cli(broken, "--allow-loopback", "--format", fmt, "--output", str(out))
        assert result.exit_code == 1
        assert result.stdout == ""
        written = out.read_text(encoding="utf-8")
        assert "C-18" in written
        if fmt in ("json", "sarif"):
            json.loads(written)


def test_a_token_is_never_sent_to_several_servers(demo, warned):
    """--token with two URLs would hand one server's token to another (token passthrough,
    S-20 / RFC 8707): a usage error before any request."""
    result = doctor_cli(demo.url, warned, "--allow-loopback", "--token", "secret-token-value")
    assert result.exit_code == 2
    assert "one URL" in result.output
    assert "secret-token-value" not in result.output


def test_sarif_several_servers_one_run_one_artifact_each(broken, demo):
    result = doctor_cli(demo.url, broken, "--allow-loopback", "--format", "sarif")
    log = json.loads(result.stdout)
    assert sarif_errors(log) == []
    [run] = log["runs"]
    assert [a["location"]["uri"] for a in run["artifacts"]] == [demo.url, broken]
    located = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["index"] for r in run["results"]
    }
    assert located == {1}  # the demo passes: no result points at it
    assert len({rule["id"] for rule in run["tool"]["driver"]["rules"]}) == len(
        run["tool"]["driver"]["rules"]
    )  # a requirement checked on both servers is one rule
