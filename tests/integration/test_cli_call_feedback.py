"""``zeroauth call`` speaks CLI around a tool call: step-up, tool arguments, unknown tools.

A real world on loopback: the dev authorization server (auto-approving), the demo MCP server
(official SDK; ``list_notes`` needs ``notes:read``, ``add_note`` ``notes:write``) protected by
zeroauth, and a zeroauth gateway in front of an unprotected demo server. Every command runs
through typer's runner with ``--headless``.

- C-39 / MCP "Scope Challenge Handling": before stepping up, one line names the scope, the tool
  and the 403 ``insufficient_scope``.
- MCP "Tools" (``inputSchema``; §Error Handling): a missing or invalid argument is one line
  naming the argument and its type, never pydantic's dump with its links; an unknown tool is
  the same line directly (an error result) and through the gateway (JSON-RPC ``-32602``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from zeroauth.cli.app import app
from zeroauth.cli.call_feedback import validation_problems
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_server
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.gateway import GatewayApp, parse_config

DEV = ["--headless", "--allow-loopback"]
PYDANTIC = ("pydantic", "validation error for", "type=missing", "input_value")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def call(url: str, tool: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["call", url, tool, *args, *DEV])


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A zeroauth gateway (accepting the dev AS's tokens) in front of an open demo server."""
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> Any:
        config = DevServerConfig(issuer=base, resources=resources, auto_approve=True)
        return DevAuthorizationServer(config).app()

    def open_demo(base: str) -> Any:
        return demo_server().streamable_http_app(stateless_http=True, json_response=True)

    with serve_asgi(factory=make_as) as auth, serve_asgi(factory=open_demo) as upstream:
        config = {
            "gateway": {},
            "issuer": [{"issuer": auth.base_url}],
            "upstream": [{
                "name": "notes", "url": upstream.url("/mcp"),
                "read_scopes": [READ_SCOPE], "write_scopes": [WRITE_SCOPE],
            }],
        }  # fmt: skip

        def make_gateway(base: str) -> Any:
            config["gateway"] = {"resource": base + "/mcp"}
            return GatewayApp(parse_config(config), drain=0.1)

        with serve_asgi(factory=make_gateway) as served:
            url = served.url("/mcp")
            resources.append(ProtectedResource(url, (READ_SCOPE, WRITE_SCOPE)))
            yield url


def test_c39_step_up_says_which_scope_for_which_tool_before_asking(demo, home):
    assert call(demo.url, "list_notes").exit_code == 0  # logged in with notes:read
    result = call(demo.url, "add_note", "--arg", "text=hello")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    notice = next(line for line in lines if line.startswith("The server needs scope"))
    assert "notes:write" in notice
    assert "for add_note" in notice
    assert "(403 insufficient_scope" in notice
    assert notice.endswith("asking the authorization server for it")  # --headless
    added = next(line for line in lines if line.startswith("added note #"))
    assert lines.index(notice) < lines.index(added)
    again = call(demo.url, "add_note", "--arg", "text=again")
    assert "The server needs scope" not in again.output  # granted now: no step-up, no notice


def test_missing_tool_argument_names_it_without_a_pydantic_dump(demo, home):
    result = call(demo.url, "add_note")
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("error: add_note needs the argument text (string)."), line
    assert "--arg text=VALUE" in line
    assert not any(word in line for word in PYDANTIC)
    assert "http" not in line.split("Hint:")[1]  # no documentation links


def test_invalid_tool_argument_refused_by_the_server_is_one_line(demo, home):
    result = call(demo.url, "add_note", "--arg", "text:=5")  # JSON 5: not a string
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: the server refused the arguments of add_note: text: Input"), line
    assert "add_note takes text (string, required)" in line
    assert not any(word in line for word in PYDANTIC)
    assert "errors.pydantic.dev" not in result.output


def test_unknown_tool_directly_and_through_the_gateway_is_the_same_hint(demo, gateway, home):
    direct = call(demo.url, "nosuch")
    assert direct.exit_code == 1
    assert f"error: no tool named 'nosuch' on {demo.url}. Hint: tools listed: add_note" in (
        direct.output
    )
    through = call(gateway, "nosuch")
    assert through.exit_code == 1, through.output
    assert "MCPError" not in through.output
    assert f"error: no tool named 'nosuch' on {gateway}. Hint: tools listed: notes" in (
        through.output
    )


def test_a_gateway_tool_call_still_works(gateway, home):
    result = call(gateway, "notes_list_notes")
    assert result.exit_code == 0, result.output


def test_validation_problems_reads_a_pydantic_dump():
    dump = (
        "Error executing tool add_note: 2 validation errors for add_noteArguments\n"
        "text\n  Field required [type=missing, input_value={}, input_type=dict]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/missing\n"
        "count\n  Input should be a valid integer [type=int_type, input_value='x', input_type=str]"
    )
    assert validation_problems(dump) == [
        "text: Field required",
        "count: Input should be a valid integer",
    ]
    assert validation_problems("the disk is full") == []
