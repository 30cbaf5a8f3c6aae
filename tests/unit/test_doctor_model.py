"""The doctor's CI vocabulary: severity (SARIF 2.1.0 §3.27.10 levels), stable check IDs and the
exit status by severity (issue 18 item 8)."""

from __future__ import annotations

from zeroauth.cli.doctor.model import Check, Report, exit_status, fail, na, ok, warn


def test_severity_follows_status_and_the_catalogue_level():
    assert fail("C-18", "PKCE", None, fix="x").severity == "error"
    assert warn("C-09", "resource", None, fix="x").severity == "warning"  # a MUST row, lenient
    assert warn("X-CORS", "CORS", None, fix="x").severity == "note"  # advice
    assert ok("S-10", "401").severity == "none"
    assert na("C-06", "fallback").severity == "none"


def test_check_id_is_the_requirement_and_a_slug_of_the_title():
    check = Check("S-08", "pass", "PRM at the root (`/.well-known/…`) URL!")
    assert check.check_id == "S-08/prm-at-the-root-well-known-url"
    assert check.to_json("https://mcp.example.com/mcp")["url"] == "https://mcp.example.com/mcp"
    assert check.to_json()["message"] == check.title


def test_exit_status_is_the_worst_over_every_report():
    clean = Report("u1", (ok("S-10", "t"),))
    warned = Report("u2", (warn("C-09", "t", None, fix="x"),))
    failed = Report("u3", (fail("C-18", "t", None, fix="x"), warn("C-09", "t", None, fix="x")))
    assert exit_status([clean]) == 0
    assert exit_status([clean, warned]) == 0
    assert exit_status([clean, warned], "warn") == 3
    assert exit_status([warned, failed], "warn") == 1
    assert exit_status([failed]) == 1
    assert exit_status([failed], "never") == 0
