"""``zeroauth login --device`` / ``--paste`` and the no-display choice, as real processes: the
CLI runs in a subprocess (its own stdin/stderr, as a user's terminal), the dev AS and the demo
MCP server on loopback; a second thread reads what the CLI prints and plays the user — typing
the code into the verification page over HTTP, or pasting back the URL the browser ended on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.helpers.client_world import scripted
from tests.helpers.demo import Demo, serve_demo
from tests.helpers.device import approve_device
from tests.helpers.paste import landing
from zeroauth.cli.app import app
from zeroauth.client._stores import FileTokenStore, tokens_key


@pytest.fixture(scope="module")
def remote_demo() -> Iterator[Demo]:
    with serve_demo(device_poll_interval=1) as demo:
        yield demo


def login(
    url: str, home: Path, *flags: str, user: Callable[[str, subprocess.Popen[str]], None],
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:  # fmt: skip
    """Run ``zeroauth login``; ``user`` sees each stderr line (and may write to stdin)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("BROWSER", "ZEROAUTH_CONFIG")}
    environ.update(ZEROAUTH_HOME=str(home), COLUMNS="200", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeroauth.cli", "login", url, "--allow-loopback", *flags],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environ,
    )  # fmt: skip
    assert proc.stderr is not None
    assert proc.stdout is not None
    err: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            user(line, proc)

    reader = threading.Thread(target=read, daemon=True)
    with proc:  # closes the pipes
        reader.start()
        try:
            out = proc.stdout.read()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(5)
    return proc.returncode, out, "".join(err)


def device_user(lines: list[str]) -> Callable[[str, subprocess.Popen[str]], None]:
    """Approves once the CLI has printed the verification URI and the code."""

    def user(line: str, proc: subprocess.Popen[str]) -> None:
        lines.append(line)
        if "enter the code:" in line:
            uri = next(seen.strip() for seen in lines if seen.startswith("  http"))
            code = line.split(":", 1)[1].strip()
            threading.Thread(target=approve_device, args=(uri, code), daemon=True).start()

    return user


def paste_user(tamper: Callable[[str], str] = lambda text: text):
    def user(line: str, proc: subprocess.Popen[str]) -> None:
        if "/authorize?" in line:
            assert proc.stdin is not None
            proc.stdin.write(tamper(landing(line.strip())) + "\n")
            proc.stdin.flush()

    return user


def test_login_device(remote_demo: Demo, tmp_path: Path):
    lines: list[str] = []
    code, out, err = login(remote_demo.url, tmp_path, "--device", user=device_user(lines))
    assert code == 0, err
    assert f"Logged in to {remote_demo.url}" in out
    assert "open this page on any device" in err
    assert "?user_code=" in err  # verification_uri_complete shown too
    home_store = FileTokenStore(tmp_path / "tokens")  # $ZEROAUTH_HOME/tokens
    assert home_store.load("tokens", tokens_key(remote_demo.issuer, remote_demo.url))


def test_login_paste(remote_demo: Demo, tmp_path: Path):
    code, out, err = login(remote_demo.url, tmp_path, "--paste", user=paste_user())
    assert code == 0, err
    assert f"Logged in to {remote_demo.url}" in out
    assert "Pasted URL or code:" in err


def test_login_paste_from_another_attempt_fails_clearly(remote_demo: Demo, tmp_path: Path):
    def other_state(text: str) -> str:
        return text.replace("state=", "state=x", 1)

    code, out, err = login(remote_demo.url, tmp_path, "--paste", user=paste_user(other_state))
    assert code == 1
    assert "error: [C-41] authorization response state is missing or does not match" in err
    assert "Logged in" not in out


def test_no_display_chooses_the_device_flow_and_says_so(remote_demo: Demo, tmp_path: Path):
    lines: list[str] = []
    ssh = {"SSH_CONNECTION": "127.0.0.1 50000 127.0.0.1 22"}
    code, out, err = login(remote_demo.url, tmp_path, user=device_user(lines), env=ssh)
    assert code == 0, err
    assert "No browser here (an SSH session): logging in with a device code" in err
    assert "enter the code:" in err
    assert f"Logged in to {remote_demo.url}" in out


def test_no_display_without_device_endpoint_falls_back_to_paste(tmp_path: Path):
    with scripted() as s:
        ssh = {"SSH_TTY": "/dev/pts/0"}
        code, out, err = login(s.server_url, tmp_path, user=paste_user(), env=ssh)
    assert code == 0, err
    assert "No browser here (an SSH session)" in err
    assert "open this URL in a browser on any machine" in err
    assert f"Logged in to {s.server_url}" in out


def test_login_flags_exclude_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    result: Result = CliRunner().invoke(
        app, ["login", "https://mcp.example.com/mcp", "--device", "--paste"]
    )
    assert result.exit_code == 1
    assert "--device and --paste exclude each other" in result.output


def test_login_help_explains_remote_logins():
    result = CliRunner().invoke(app, ["login", "--help"])
    text = " ".join(result.stdout.split())
    for phrase in ("--device", "RFC 8628", "--paste", "paste back the URL", "--browser"):
        assert phrase in text, phrase
