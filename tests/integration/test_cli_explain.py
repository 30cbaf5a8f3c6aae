"""``zeroauth explain ID`` and ``zeroauth doctor --explain``: IDs the CLI prints, explained.

``explain`` reads the requirement catalogue (``zeroauth._catalog``); ``doctor --explain`` runs
against real servers on loopback (the demo, and a server whose PRM names its origin: a C-09
warning, printed first).
"""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.broken_server import Knobs, broken_app
from zeroauth._catalog import lookup
from zeroauth.cli.app import app


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})


def flat(text: str) -> str:
    return " ".join(text.split())


def test_explain_c17_prints_the_sentence_and_the_link():
    result = cli("explain", "C-17")
    assert result.exit_code == 0, result.output
    entry = lookup("C-17")
    assert entry is not None
    assert result.stdout.startswith("C-17  MUST")
    assert entry.text in flat(result.stdout)
    assert "https://www.rfc-editor.org/rfc/rfc8414#section-3.3" in result.stdout
    assert "RFC 8414 §3.3" in result.stdout


def test_explain_several_ids_any_spelling_and_a_vector_label():
    result = cli("explain", "s-15", "A1", "sec5", "W17")
    assert result.exit_code == 0, result.output
    heads = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert heads == ["S-15  SHOULD", "A1  threat", "SEC-05  SHOULD", "W17  test vector"]
    assert "WWW-Authenticate` parsing" in result.stdout


def test_explain_an_unknown_id_fails_with_a_clear_message():
    result = cli("explain", "C-17", "C-99")
    assert result.exit_code == 1
    assert "C-17  MUST" in result.stdout  # the known ones are still explained
    assert "unknown requirement ID 'C-99'" in result.stderr
    assert "docs/requirements.md" in result.stderr
    assert cli("explain", "nonsense").exit_code == 1
    assert cli("explain").exit_code == 2  # at least one ID


def test_explain_json():
    result = cli("explain", "--json", "B14", "D8")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == ["B14", "D8"]
    assert rows[1]["level"] == "threat"
    assert rows[1]["link"] == "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14"
    assert "413" in rows[1]["requirement"]


def test_doctor_explain_prints_every_cited_id(demo):
    result = cli("doctor", demo.url, "--allow-loopback", "--explain")
    assert result.exit_code == 0, result.output
    table, _, explained = result.stdout.partition("What the IDs mean")
    assert explained, result.stdout
    for id in ("S-10", "C-09", "C-17", "C-18", "X-CORS"):
        entry = lookup(id)
        assert entry is not None
        assert id in table
        assert f"{id}  {entry.level}" in explained
        assert entry.source.link in explained
    assert "not in the catalogue" not in explained
    plain = cli("doctor", demo.url, "--allow-loopback")
    assert "What the IDs mean" not in plain.stdout


def test_doctor_explain_puts_findings_first_and_json_carries_the_catalogue():
    knobs = Knobs(prm_resource="origin")  # the path-inserted PRM names the origin: C-09 warns
    with serve_asgi(factory=lambda base: broken_app(base, knobs)) as served:
        url = f"{served.base_url}/mcp"
        result = cli("doctor", url, "--allow-loopback", "--explain")
        as_json = cli("doctor", url, "--allow-loopback", "--explain", "--json")
    explained = result.stdout.partition("What the IDs mean")[2]
    first = next(line for line in explained.splitlines() if line.strip())
    assert first.startswith("C-09  MUST"), explained
    report = json.loads(as_json.stdout)
    assert {check["id"] for check in report["checks"]} == set(report["catalogue"])
    assert (
        report["catalogue"]["C-09"]["link"] == "https://www.rfc-editor.org/rfc/rfc9728#section-3.3"
    )
