"""Hints that speak CLI to CLI users (issue 18, CLI polish), on loopback.

- C-41: ``--headless`` against an authorization server that shows a consent page: the hint says
  drop ``--headless`` or start ``zeroauth dev-as --auto-approve``, never a Python class.
- C-13: an authorization server that does not answer is reported as unreachable, not as one
  that should publish RFC 8414 metadata.
- Every library hint the CLI rewrites still exists in the library (the mapping cannot rot), and
  no rewritten hint names a Python class.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from zeroauth.cli import output
from zeroauth.cli.app import app
from zeroauth.demo.mcp_server import demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

SRC = Path(__file__).parents[2] / "src" / "zeroauth"
DEV = ["--headless", "--allow-loopback"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_c41_headless_against_a_consent_page_says_drop_headless_or_auto_approve(home):
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> object:  # the dev AS as `zeroauth dev-as` starts it by default
        return DevAuthorizationServer(DevServerConfig(issuer=base, resources=resources)).app()

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", auth.base_url)) as mcp,
    ):
        url = mcp.url("/mcp")
        resources.append(ProtectedResource(url, ("notes:read", "notes:write")))
        result = CliRunner().invoke(app, ["call", url, "list_notes", *DEV])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: [C-41] the authorization server did not redirect back"), line
    assert "drop --headless" in line
    assert "`zeroauth dev-as` with --auto-approve" in line
    assert "UserStep" not in line


def test_c13_an_unreachable_authorization_server_is_reported_unreachable(home):
    issuer = f"http://127.0.0.1:{_closed_port()}"
    with serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", issuer)) as mcp:
        result = CliRunner().invoke(app, ["call", mcp.url("/mcp"), "list_notes", *DEV])
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(
        f"error: [C-13] the authorization server could not be reached at {issuer}"
    ), line
    assert f"check that {issuer} is up and reachable" in line
    assert "publish" not in line
    assert "metadata found" not in line


def test_every_rewritten_library_hint_still_exists_and_speaks_cli():
    library = "\n".join(
        path.read_text(encoding="utf-8")
        for path in SRC.rglob("*.py")
        if "cli" not in path.relative_to(SRC).parts
    )
    for marker, said in output._CLI_HINTS:
        assert marker in library, f"no library hint contains {marker!r} any more"
        assert not re.search(r"[A-Z][a-z]+[A-Z]\w*\(|\w+=\w", said), said  # no class, no kwarg
    assert output._LEGACY_TAIL.strip("; ") in library
    hint = "the server must publish RFC 9728 metadata" + output._LEGACY_TAIL
    assert output.cli_hint(hint) == "the server must publish RFC 9728 metadata"
