"""The docs followed literally: each page's ``<!-- run -->`` shell blocks, run as a new user
would (issue 18 item 4), with the ``zeroauth`` of this checkout on PATH, servers in the
background on free loopback ports, ``ZEROAUTH_HOME`` in a temporary directory. The runner is
``tests.helpers.docs.ShellSession``; each test adds the key output the page promises.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.docs import ROOT, ShellCommand, ShellSession, run_blocks

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ShellSession]:
    shell = ShellSession(tmp_path)
    try:
        yield shell
    finally:
        shell.close()


def test_devserver_page_quick_start_and_clients_file(session: ShellSession) -> None:
    """docs/devserver.md: dev-as with --auto-approve, serve, a headless call (C-22, AS-05)."""
    session.run_page("docs/devserver.md")
    assert "zeroauth protects this server" in session.output_of("zeroauth call")
    # the --clients file of the page: dev-as read it; the machine client got its token
    assert session.output_of("curl").split() == ["Bearer", "notes:read"]


def test_the_documented_clients_file_loads_and_a_bad_one_names_itself(tmp_path: Path) -> None:
    """docs/devserver.md "The --clients file": the example loads into the dev AS as written;
    a broken file is a usage error naming the file and the docs section."""
    from typer.testing import CliRunner

    from zeroauth.cli.app import app
    from zeroauth.cli.dev_as import load_clients
    from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

    [block] = [b for b in run_blocks("docs/devserver.md") if b.file == "clients.json"]
    (tmp_path / "clients.json").write_text(block.body)
    clients = load_clients(tmp_path / "clients.json")
    assert [c.client_id for c in clients] == ["notes-cli", "nightly-report"]
    assert clients[0].token_endpoint_auth_method == "none"
    assert clients[1].token_endpoint_auth_method == "client_secret_basic"  # the default
    assert clients[1].machine
    assert clients[1].scopes == ("notes:read",)
    resource = ProtectedResource("http://127.0.0.1:8000/mcp", ("notes:read", "notes:write"))
    config = DevServerConfig("http://127.0.0.1:9001", resources=[resource], clients=clients)
    DevAuthorizationServer(config).app()  # the server accepts them
    for text, reason in (
        ("{not json", "Expecting property name"),
        ('{"client_id": "x"}', "expected a JSON list of client objects"),
        ('[{"client_secret": "s"}]', "non-empty string 'client_id'"),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        result = CliRunner().invoke(
            app, ["dev-as", "--resource", "http://127.0.0.1:8000/mcp", "--clients", str(bad)]
        )
        assert result.exit_code == 2, result.output
        assert reason in result.output
        assert "bad.json" in result.output


def test_server_page_fastmcp_on_this_machine(session: ShellSession) -> None:
    """docs/server.md: the extra to install is named and exists; the FastMCP server of section 3
    runs under uvicorn for the dev AS, passes doctor without a warning (S-01..S-13, C-17,
    C-18), and a headless client reads, then steps up to write (S-15, C-39)."""
    page = (ROOT / "docs/server.md").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in ("fastmcp", "mcp"):
        assert f"pip install 'zeroauth[{extra}]'" in page
        assert extra in extras
    session.run_page("docs/server.md")
    assert "0 warn  0 fail" in session.output_of("zeroauth doctor")
    assert "todo: nothing written yet" in session.output_of(
        "zeroauth call http://127.0.0.1:8000/mcp read_note"
    )
    assert "saved todo" in session.output_of("zeroauth call http://127.0.0.1:8000/mcp write_note")


def test_readme_after_make_demo(tmp_path: Path) -> None:
    """README.md: after ``make demo`` (here: ``.venv`` is this test run's environment) the
    reader is not told to have ``zeroauth`` on PATH; ``source .venv/bin/activate`` puts it
    there, and the servers, doctor and a headless call work as written."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").exists():
        pytest.skip("the tests do not run in a virtual environment with bin/activate")
    (tmp_path / ".venv").symlink_to(venv)
    shell = ShellSession(tmp_path, zeroauth_on_path=False)
    try:
        missing = shell.run(ShellCommand("command -v zeroauth", expected_exit=1))
        assert missing.output == ""  # without activation: "command not found"
        shell.results.clear()
        shell.run_page("README.md")
    finally:
        shell.close()
    assert shell.output_of("zeroauth --version").strip()
    assert "→  OK" in shell.output_of("zeroauth doctor")
    assert "added note" in shell.output_of("zeroauth call")


def test_every_page_has_run_blocks() -> None:
    for page in (
        "README.md",
        "docs/devserver.md",
        "docs/server.md",
        "docs/gateway.md",
        "docs/cli.md",
    ):
        assert any(block.commands for block in run_blocks(page)), page


def test_gateway_page_on_this_machine(session: ShellSession) -> None:
    """docs/gateway.md: dev AS, an unprotected FastMCP upstream, the gateway from the page's
    TOML; doctor passes the gateway (S-01..S-13) and a headless client calls the upstream's
    tool through it (G-16)."""
    session.run_page("docs/gateway.md")
    checked = json.loads(session.output_of("zeroauth gateway --config gateway.toml --check"))
    assert checked["upstreams"]["notes"]["prefix"] == "notes_"
    assert "→  OK" in session.output_of("zeroauth doctor")
    assert "todo: nothing written yet" in session.output_of("zeroauth call")


def test_cli_page_followed_literally(session: ShellSession) -> None:
    """docs/cli.md: the refused loopback URL (SEC-04), doctor on a correct server, a headless
    login, calls with step-up (C-39), logout with revocation, explain; every output line the
    page shows for them (its ports replaced by free ports of the same width)."""
    session.run_page("docs/cli.md")
    assert "→  OK" in session.output_of("zeroauth doctor http://127.0.0.1:8000/mcp --allow")
    assert "SEC-04" in session.output_of("zeroauth doctor http://127.0.0.1:8000/mcp")
    assert session.output_of("curl").split() == ["notes:read"]  # dev-as --clients
