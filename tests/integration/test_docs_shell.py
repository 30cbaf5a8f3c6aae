"""The docs followed literally: each page's ``<!-- run -->`` shell blocks, run as a new user
would (issue 18 item 4), with the ``zeroauth`` of this checkout on PATH, servers in the
background on free loopback ports, ``ZEROAUTH_HOME`` in a temporary directory. The runner is
``tests.helpers.docs.ShellSession``; each test adds the key output the page promises.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.docs import ROOT, ShellSession, run_blocks

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
