"""``zeroauth dev-as`` and ``zeroauth serve`` as real processes; zeroauth's client gets in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited with {proc.returncode}")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never came up")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[str]:
    as_port, mcp_port = _free_port(), _free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    env = {**os.environ, "ZEROAUTH_HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "zeroauth.cli"]
    dev_as = subprocess.Popen(
        [*cli, "dev-as", "--port", str(as_port), "--resource", mcp_url, "--scope", "notes:read",
         "--scope", "notes:write", "--auto-approve"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    serve = subprocess.Popen(
        [*cli, "serve", "--port", str(mcp_port), "--issuer", f"http://127.0.0.1:{as_port}"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{as_port}/.well-known/oauth-authorization-server", dev_as)
        _wait_for(f"http://127.0.0.1:{mcp_port}/.well-known/oauth-protected-resource/mcp", serve)
        yield mcp_url
    finally:
        for proc in (dev_as, serve):
            proc.terminate()
            proc.wait(10)
    assert (tmp_path / "data" / "devserver.sqlite").exists()  # persisted under ZEROAUTH_HOME


def test_dev_as_and_serve_commands_let_the_client_in(servers: str) -> None:
    auth = ZeroAuth(
        store=MemoryTokenStore(),
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        url_policy=DEVELOPMENT,
    )
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "add_note", "arguments": {"text": "from a test"}}}  # fmt: skip
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(servers, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "added note #2"
