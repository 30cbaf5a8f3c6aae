"""``zeroauth dev-as`` serves resources given at start and added at run time (issue 18).

- ``--resource "URL [SCOPE ...]"`` is repeatable, each resource with its own scopes.
- ``--config FILE`` (``[[resource]]``, ``[[client]]``) is re-read when it changes; a wrong file
  keeps the previous settings.
- RFC 8707 §2 ``invalid_target``: the dev AS's ``error_description`` says which resources it
  serves and how to add one (``--resource``), and ``zeroauth call`` shows it.

The process test runs the real command; the others serve the same ``Reloading`` app the command
serves, in-process on loopback, with the demo MCP server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.docs import code_blocks
from tests.integration.test_cli_servers import _free_port, _wait_for
from zeroauth.cli.app import app
from zeroauth.cli.dev_as_file import LiveSettings, Reloading, config_for, parse_resource
from zeroauth.demo.mcp_server import demo_app
from zeroauth.devserver import DevAuthorizationServer

DEV = ["--headless", "--allow-loopback"]
METADATA = "/.well-known/oauth-authorization-server"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def _write(path: Path, text: str) -> None:
    """Write so the change is seen even within the file system's timestamp granularity."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_resource_option_takes_its_own_scopes_or_the_shared_ones():
    own = parse_resource("http://127.0.0.1:8000/mcp notes:read notes:write", ["x"])
    assert (own.resource, own.scopes) == (
        "http://127.0.0.1:8000/mcp",
        ("notes:read", "notes:write"),
    )
    shared = parse_resource("http://127.0.0.1:8001/mcp", ["files:read"])
    assert shared.scopes == ("files:read",)
    with pytest.raises(ValueError, match="without a fragment"):
        parse_resource("http://127.0.0.1:8000/mcp#x", [])
    with pytest.raises(ValueError, match="scope tokens"):
        parse_resource('http://127.0.0.1:8000/mcp bad"scope', [])


def test_dev_as_command_serves_each_resource_with_its_scopes_and_reloads_its_file(tmp_path):
    """The real process: two --resource options with their own scopes, then a [[resource]]
    added to --config while it runs (RFC 8414 scopes_supported shows what it serves)."""
    port = _free_port()
    settings = tmp_path / "dev-as.toml"
    _write(settings, "")
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeroauth.cli", "dev-as", "--port", str(port),
         "--resource", "http://127.0.0.1:8000/mcp notes:read notes:write",
         "--resource", "http://127.0.0.1:8001/mcp", "--scope", "files:read",
         "--config", str(settings)],
        env={**os.environ, "ZEROAUTH_HOME": str(tmp_path)}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(base + METADATA, proc)  # type: ignore[arg-type]
        scopes = httpx2.get(base + METADATA).json()["scopes_supported"]
        assert scopes == ["notes:read", "notes:write", "files:read", "offline_access"]
        _write(
            settings, '[[resource]]\nurl = "http://127.0.0.1:8002/mcp"\nscopes = ["mail:send"]\n'
        )
        assert "mail:send" in httpx2.get(base + METADATA).json()["scopes_supported"]
        _write(settings, "[[resource]]\nurl = 'no url'\n")  # wrong: the previous settings stay
        assert "mail:send" in httpx2.get(base + METADATA).json()["scopes_supported"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "resource  http://127.0.0.1:8000/mcp (notes:read notes:write)" in err
    assert f"reloaded {settings}: resources" in err
    assert "http://127.0.0.1:8002/mcp (mail:send)" in err
    assert "not reloaded, keeping the previous settings" in err


def test_invalid_target_names_the_served_resources_and_a_resource_added_at_run_time_works(
    home, tmp_path
):
    settings = tmp_path / "dev-as.toml"
    _write(settings, "")
    reports: list[str] = []
    holder: list[Reloading] = []

    def make_as(base: str) -> Any:
        live = LiveSettings(issuer=base, fixed_resources=(), fixed_clients=(), path=settings)
        live.load()
        server = DevAuthorizationServer(config_for(live, auto_approve=True))
        holder.append(Reloading(server, live, reports.append))
        return holder[0]

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", auth.base_url)) as mcp,
    ):
        url = mcp.url("/mcp")
        refused = CliRunner().invoke(app, ["call", url, "list_notes", *DEV])
        assert refused.exit_code == 1
        line = refused.output.strip().splitlines()[-1]
        assert "invalid_target" in line, line
        assert (
            f"resource {url} is not served here: add it with zeroauth dev-as --resource {url}"
            in (line)
        )
        assert "it serves: none" in line
        _write(settings, f'[[resource]]\nurl = "{url}"\nscopes = ["notes:read", "notes:write"]\n')
        time.sleep(0.01)
        result = CliRunner().invoke(app, ["call", url, "list_notes", *DEV])
        assert result.exit_code == 0, result.output
    assert any(f"{url} (notes:read notes:write)" in report for report in reports)


def test_docs_devserver_settings_file_example_reads_as_written(tmp_path):
    """docs/devserver.md's --config example is a valid settings file, checked as at start."""
    [text] = code_blocks("docs/devserver.md", "toml", after="## Resources and clients at run")
    path = tmp_path / "dev-as.toml"
    path.write_text(text, encoding="utf-8")
    live = LiveSettings(issuer="http://127.0.0.1:9000", fixed_resources=(), fixed_clients=(),
                        path=path)  # fmt: skip
    [client] = live.load()
    assert [(r.resource, r.scopes) for r in live.resources] == [
        ("http://127.0.0.1:8002/mcp", ("mail:send",))
    ]
    assert client.machine
    assert client.scopes == ("mail:send",)


def test_dev_as_needs_a_resource_and_refuses_a_wrong_one_before_serving(tmp_path):
    runner = CliRunner()
    none = runner.invoke(app, ["dev-as"])
    assert none.exit_code == 2
    assert "give at least one --resource URL, or --config FILE" in none.output
    fragment = runner.invoke(app, ["dev-as", "--resource", "http://127.0.0.1:8000/mcp#x"])
    assert fragment.exit_code == 2
    assert "without a fragment (RFC 8707 §2)" in " ".join(fragment.output.split())
    settings = tmp_path / "dev-as.toml"
    settings.write_text("[[resource]]\nurl = 'http://127.0.0.1:8000/mcp'\nscope = ['a']\n")
    wrong = runner.invoke(app, ["dev-as", "--config", str(settings)])
    assert wrong.exit_code == 2
    assert "a [[resource]] has the keys url and scopes" in " ".join(wrong.output.split())
