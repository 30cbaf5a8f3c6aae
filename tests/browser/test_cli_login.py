"""``zeroauth login`` through a real browser: the system browser is headless Chromium.

The CLI runs as its own process, exactly as a user starts it (no ``--headless``). Its browser
opener is Python's ``webbrowser`` with ``BROWSER`` pointing at a launcher that hands the URL to
this test, which opens it in Chromium: the dev AS's consent page (not auto-approving) → the
Approve click → the redirect to the CLI's loopback listener (RFC 8252 §7.3) → its success page;
the CLI then stores the token and exits.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zeroauth
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.browser import screenshot_dir
from tests.helpers.demo import Demo
from zeroauth.client._stores import FileTokenStore, tokens_key
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

pytestmark = pytest.mark.browser

SRC = Path(zeroauth.__file__).resolve().parents[1]


@pytest.fixture
def world() -> Iterator[Demo]:
    """The dev AS with its real consent page, and the demo MCP server."""
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> Any:
        return DevAuthorizationServer(DevServerConfig(issuer=base, resources=resources)).app()

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", auth.base_url)) as mcp,
    ):
        url = mcp.url("/mcp")
        resources.append(ProtectedResource(url, (READ_SCOPE, WRITE_SCOPE)))
        yield Demo(url, auth.base_url)


def _launcher(tmp_path: Path) -> tuple[str, Path]:
    """A ``BROWSER`` command that records the URL it is asked to open, for the test to open."""
    urls = tmp_path / "opened-urls"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{urls}"\n')
    script.chmod(0o755)
    return f"{script} %s", urls


def _wait_for_url(urls: Path, cli: subprocess.Popen[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if urls.exists() and urls.read_text().strip():
            return urls.read_text().splitlines()[0]
        if cli.poll() is not None:
            out, err = cli.communicate()
            pytest.fail(f"the CLI exited before opening a browser:\n{out}\n{err}")
        time.sleep(0.05)
    cli.kill()
    pytest.fail("the CLI did not open the browser")


def test_zeroauth_login_in_a_real_browser(
    world: Demo, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, urls = _launcher(tmp_path)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "ZEROAUTH_HOME": str(home),
        "BROWSER": browser,
        # A graphical session, as on a desktop: the CLI may otherwise pick a browserless login.
        "DISPLAY": os.environ.get("DISPLAY", ":0"),
    }
    for name in ("ZEROAUTH_CONFIG", "ZEROAUTH_ALLOW_LOOPBACK", "SSH_CONNECTION", "SSH_TTY"):
        env.pop(name, None)
    cli = subprocess.Popen(
        [sys.executable, "-m", "zeroauth.cli", "login", world.url, "--allow-loopback"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = _wait_for_url(urls, cli)
        assert url.startswith(f"{world.issuer}/authorize?")
        page.goto(url)
        assert page.title() == "Authorize zeroauth"
        assert "127.0.0.1" in page.locator("strong").inner_text()  # where the code goes
        shots = screenshot_dir()
        if shots is not None:
            page.screenshot(path=str(shots / "consent-page.png"))
        page.click("button[value=approve]")
        page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/callback\?"))
        assert "Authorization complete" in page.inner_text("body")
        if shots is not None:
            page.screenshot(path=str(shots / "cli-success-page.png"), clip=_TOP)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, err
    assert f"Logged in to {world.url}" in out
    assert "Opening the browser" in err
    monkeypatch.setenv("ZEROAUTH_HOME", str(home))
    record = FileTokenStore().load("tokens", tokens_key(world.issuer, world.url))
    assert record is not None
    assert record["access_token"]
    assert record["access_token"] not in out + err


_TOP = {"x": 0, "y": 0, "width": 720, "height": 120}
