"""``zeroauth serve --hide-tools`` and ``--cors-origin ORIGIN`` (issue 18, CLI polish) as real
processes behind ``zeroauth dev-as``:

- by default every tool is listed (the 403 ``insufficient_scope`` with ``scope=`` drives the
  step-up, RFC 6750 §3.1, MCP scope challenge handling) and loopback browser origins may call;
- ``--hide-tools``: ``tools/list`` shows only what the caller's token may call;
- ``--cors-origin`` (repeatable): exactly those origins get CORS (Fetch §3.2 preflight answered
  before authentication), loopback origins no longer by default; a malformed origin is a usage
  error (exit 2) naming the option.

The same flags as documented in docs/cli.md (``zeroauth serve``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.integration.test_cli_servers import _free_port, _wait_for
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

CLI = [sys.executable, "-m", "zeroauth.cli"]
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A default ``serve`` and one with ``--hide-tools --cors-origin ... --cors-origin ...``."""
    as_port, plain_port, custom_port = _free_port(), _free_port(), _free_port()
    plain = f"http://127.0.0.1:{plain_port}/mcp"
    custom = f"http://127.0.0.1:{custom_port}/mcp"
    issuer = f"http://127.0.0.1:{as_port}"
    env = {**os.environ, "ZEROAUTH_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [*CLI, "dev-as", "--port", str(as_port), "--resource", plain, "--resource", custom,
             "--scope", "notes:read", "--scope", "notes:write", "--auto-approve"],
            env=env, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen([*CLI, "serve", "--port", str(plain_port), "--issuer", issuer],
                         env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [*CLI, "serve", "--port", str(custom_port), "--issuer", issuer, "--hide-tools",
             "--cors-origin", "https://app.example", "--cors-origin", "http://tools.test:*"],
            env=env, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        _wait_for(f"{issuer}/.well-known/oauth-authorization-server", procs[0])
        for url, proc in ((plain, procs[1]), (custom, procs[2])):
            base = url.removesuffix("/mcp")
            _wait_for(f"{base}/.well-known/oauth-protected-resource/mcp", proc)
        yield plain, custom
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _listed(url: str) -> list[str]:
    """``tools/list`` with a token the client got for the 401's scope (notes:read only)."""
    auth = ZeroAuth(store=MemoryTokenStore(), url_policy=DEVELOPMENT,
                    user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(url, json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return sorted(tool["name"] for tool in response.json()["result"]["tools"])


def _preflight(url: str, origin: str) -> httpx2.Response:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    return httpx2.options(url, headers=headers, timeout=10)


def test_hide_tools_lists_only_what_the_token_may_call(two_servers: tuple[str, str]) -> None:
    plain, custom = two_servers
    assert _listed(plain) == ["add_note", "list_notes"]  # default: all listed, 403 steps up
    assert _listed(custom) == ["list_notes"]  # --hide-tools: add_note needs notes:write


def test_cors_origin_allows_exactly_the_given_origins(two_servers: tuple[str, str]) -> None:
    plain, custom = two_servers
    allowed = _preflight(custom, "https://app.example")
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    port_wildcard = _preflight(custom, "http://tools.test:5173")
    assert port_wildcard.headers["access-control-allow-origin"] == "http://tools.test:5173"
    assert _preflight(custom, "http://localhost:5173").status_code == 403  # not given
    assert _preflight(custom, "https://evil.example").status_code == 403
    # the default: loopback origins only
    assert _preflight(plain, "http://localhost:5173").status_code == 204
    assert _preflight(plain, "https://app.example").status_code == 403


def test_a_malformed_origin_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "ZEROAUTH_HOME": str(tmp_path)}
    bad = subprocess.run(
        [*CLI, "serve", "--port", str(_free_port()), "--issuer", "http://127.0.0.1:9",
         "--cors-origin", "https://app.example/path"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--cors-origin" in bad.stderr
    assert "is not an origin" in bad.stderr
