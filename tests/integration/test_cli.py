"""The everyday CLI end to end: ``login``, ``status``, ``token``, ``call``, ``logout``.

A real world on loopback: zeroauth's dev authorization server (auto-approving) and the demo MCP
server (official SDK, ``notes:read`` / ``notes:write``) protected by zeroauth. Every command
runs in-process through typer's runner with ``ZEROAUTH_HOME`` in a temporary directory and
``--headless`` (the authorization redirects are followed without a browser).
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from zeroauth.cli.app import app
from zeroauth.client._stores import FileTokenStore, tokens_key
from zeroauth.demo.mcp_server import demo_app

DEV = ["--headless", "--allow-loopback"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def stored_token(url: str, issuer: str) -> dict:
    record = FileTokenStore().load("tokens", tokens_key(issuer, url))
    assert record is not None
    return record


def test_help_lists_every_command_and_explains_them():
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("doctor", "explain", "login", "token", "call", "status", "logout", "config"):
        assert name in result.stdout
    for command, phrase in [
        (["doctor"], "requirement by requirement"),
        (["explain"], "docs/requirements.md"),
        (["login"], "--headless"),
        (["token"], "curl"),
        (["call"], "name:=JSON"),
        (["status"], "never shown"),
        (["logout"], "even if the authorization server is down"),
        (["config"], "import"),
        (["config", "set-server"], "--strict"),
    ]:
        result = cli(*command, "--help")
        assert result.exit_code == 0, result.output
        assert phrase in " ".join(result.stdout.split()), (command, result.stdout)


def test_login_status_token_call_logout(demo, home):
    result = cli("login", demo.url, *DEV)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {demo.url}" in result.stdout
    assert f"authorization server  {demo.issuer}" in result.stdout
    assert "notes:read" in result.stdout
    access = stored_token(demo.url, demo.issuer)["access_token"]

    again = cli("login", demo.url, *DEV)
    assert f"Already logged in to {demo.url}" in again.stdout

    status = cli("status")
    assert status.exit_code == 0
    assert demo.url in status.stdout
    assert demo.issuer in status.stdout
    assert access not in status.output
    data = json.loads(cli("status", "--json").stdout)
    [login] = data["logins"]
    assert login["server"] == demo.url
    assert login["refresh_token"] is True
    assert "access_token" not in json.dumps(data)
    [client] = data["clients"]
    assert client["source"] == "dcr"

    token = cli("token", demo.url, *DEV)
    assert token.exit_code == 0, token.output
    assert token.stdout == access + "\n"  # only the token on stdout: $(zeroauth token URL)
    claims = jwt.decode(token.stdout.strip(), options={"verify_signature": False})
    assert claims["aud"] == demo.url

    added = cli("call", demo.url, "add_note", "--arg", "text=from the cli", *DEV)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("added note #")
    scopes = stored_token(demo.url, demo.issuer)["scope"]
    assert "notes:write" in scopes  # stepped up (C-39)
    listed = cli("call", demo.url, "list_notes", *DEV)
    assert "from the cli (by dev-user)" in listed.stdout

    out = cli("logout", demo.url)
    assert out.exit_code == 0
    assert "1 login(s) removed" in out.stdout
    assert "No logins" in cli("status").stdout


def test_token_refreshes_an_expired_token_without_a_new_login(demo, home):
    assert cli("login", demo.url, *DEV).exit_code == 0
    store = FileTokenStore()
    key = tokens_key(demo.issuer, demo.url)
    record = store.load("tokens", key)
    assert record is not None
    store.save("tokens", key, {**record, "expires_at": 1.0})
    fresh = cli("token", demo.url, *DEV, "--json")
    assert fresh.exit_code == 0, fresh.output
    data = json.loads(fresh.stdout)
    assert data["access_token"] != record["access_token"]
    assert data["expires_at"] > record["expires_at"] - 5
    assert "refresh_token" not in data


def test_call_converts_arguments_by_the_tool_schema_and_prints_json(demo, home):
    result = cli("call", demo.url, "add_note", "-a", 'text:="quoted"', "--json", *DEV)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["content"][0]["text"].startswith("added note #")
    assert data.get("isError") in (None, False)


def test_login_with_a_pre_registered_client_from_the_config(demo, home):
    added = cli("config", "add-client", demo.issuer, "--client-id", "cli-client")
    assert added.exit_code == 0, added.output
    assert cli("login", demo.url, *DEV).exit_code == 0
    access = stored_token(demo.url, demo.issuer)["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["client_id"] == "cli-client"
    data = json.loads(cli("status", "--json").stdout)
    [client] = data["clients"]  # nothing registered dynamically
    assert (client["client_id"], client["source"]) == ("cli-client", "pre-registered (config)")
    assert data["logins"][0]["client"] == "cli-client (pre-registered (config))"


def test_server_scopes_from_the_config_are_requested(demo, home):
    assert cli("config", "set-server", demo.url, "--scope", "notes:write").exit_code == 0
    result = cli("login", demo.url, *DEV)
    assert result.exit_code == 0, result.output
    assert "notes:write" in stored_token(demo.url, demo.issuer)["scope"]


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_loopback_server_without_the_dev_opt_in_is_refused(demo, home):
    line = one_error_line(cli("login", demo.url, "--headless"))
    assert line.startswith("error: [SEC-04] address refused: loopback")
    assert "--allow-loopback" in line


def test_unknown_tool_is_one_line_naming_the_tools(demo, home):
    line = one_error_line(cli("call", demo.url, "nope", *DEV))
    assert line.startswith("error: no tool named 'nope'")
    assert "list_notes" in line


def test_bad_argument_is_one_line(demo, home):
    line = one_error_line(cli("call", demo.url, "add_note", "--arg", "text", *DEV))
    assert line == "error: bad argument 'text'. Hint: write name=value or name:=JSON"


def test_as_without_pkce_fails_with_c18(home):
    from tests.helpers.broken_server import Knobs, broken_app

    with serve_asgi(factory=lambda base: broken_app(base, Knobs(pkce=False))) as server:
        line = one_error_line(cli("token", server.url("/mcp"), *DEV))
    assert line.startswith("error: [C-18] authorization server does not advertise PKCE")
    assert "Hint:" in line


def test_server_without_authorization_is_s10(home):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def open_mcp(request):
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

    app_ = Starlette(routes=[Route("/mcp", open_mcp, methods=["POST"])])
    with serve_asgi(app_) as server:
        line = one_error_line(cli("token", server.url("/mcp"), *DEV))
    assert line.startswith("error: [S-10] the server did not ask for authorization")


def test_debug_shows_the_traceback(demo, home):
    result = cli("call", demo.url, "nope", *DEV, "--debug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_logout_everywhere_and_forget_clients(demo, home):
    assert cli("login", demo.url, *DEV).exit_code == 0
    result = cli("logout", "--forget-clients")
    assert result.exit_code == 0
    assert "Logged out of every server (1 login(s) removed)" in result.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert data["logins"] == []
    assert data["clients"] == []


@pytest.mark.realas
def test_call_through_the_real_authorization_server(real_as_factory, home):
    server = real_as_factory(scopes="notes:read notes:write")
    with serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", server.issuer)) as mcp:
        url = mcp.url("/mcp")
        listed = cli("call", url, "list_notes", *DEV)
        assert listed.exit_code == 0, listed.output
        assert listed.stdout == "zeroauth protects this server\n"
        added = cli("call", url, "add_note", "--arg", "text=real", *DEV)  # step-up at the real AS
        assert added.exit_code == 0, added.output
        token = cli("token", url, *DEV).stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == server.issuer
    assert claims["aud"] == url
    assert set(claims["scope"].split()) >= {"notes:read", "notes:write"}


def test_login_opens_the_browser_by_default(demo, home, monkeypatch):
    """Without --headless the authorization URL goes to the browser and the redirect comes
    back to a loopback listener (RFC 8252 §7.3); here a thread plays the browser."""
    import threading

    import httpx2

    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        threading.Thread(target=httpx2.get, args=(url,), kwargs={"follow_redirects": True}).start()
        return True

    monkeypatch.setattr("zeroauth.cli.client.webbrowser.open", browser)
    # a machine with a display (CI runs in a container without one: device/paste-back there)
    monkeypatch.setattr("zeroauth.cli.session.no_display_reason", lambda: None)
    result = cli("login", demo.url, "--allow-loopback")
    assert result.exit_code == 0, result.output
    [url] = opened
    assert url.startswith(f"{demo.issuer}/authorize?")
    assert "code_challenge_method=S256" in url
    assert f"If it does not open, visit:\n  {url}" in result.stderr
    assert f"Logged in to {demo.url}" in result.stdout


def test_policy_errors_name_the_cli_flag(home):
    from tests.helpers.broken_server import Knobs, broken_app

    knobs = Knobs(as_issuer="http://auth.example.com")
    with serve_asgi(factory=lambda base: broken_app(base, knobs)) as server:
        line = one_error_line(cli("token", server.url("/mcp"), *DEV))
    assert line.startswith("error: [SEC-05] https is required at authorization_servers")
    assert line.endswith("with --allow-loopback (development opt-in)")


def test_fleet_cli_keeps_its_login_in_redis(
    demo, home, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
):
    """``redis_url`` / ``redis_prefix`` in the config file: ``token`` stores the login in the
    shared Redis (encrypted), ``status`` lists it from there, ``logout`` removes it."""
    from zeroauth.cli.config_file import config_path
    from zeroauth.client import Keyring, RedisTokenStore

    keys = Keyring.generate("k1")
    monkeypatch.setenv("ZEROAUTH_REDIS_KEYS", keys)
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(f'redis_url = "{redis_url}"\nredis_prefix = "{redis_prefix}"\n')
    token = cli("token", demo.url, *DEV)
    assert token.exit_code == 0, token.output
    shared = RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=keys)
    assert shared.keys("binding") == [demo.url]  # the login is in Redis...
    assert not list(home.rglob("tokens-*.json"))  # ...and not in files
    status = cli("status", "--json")
    assert demo.url in status.output
    out = cli("logout", demo.url, "--allow-loopback")
    assert out.exit_code == 0, out.output
    assert shared.keys("binding") == []


def test_version_flag_and_logout_of_nothing(home):
    from zeroauth import __version__

    version = cli("--version")
    assert version.exit_code == 0
    assert version.stdout.strip() == __version__
    nothing = cli("logout", "--no-revoke")
    assert nothing.exit_code == 0, nothing.output
    assert "Not logged in to any server: nothing to remove." in nothing.stdout
    assert "0 login(s)" not in nothing.stdout
