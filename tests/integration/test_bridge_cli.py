"""``zeroauth bridge --config bridge.toml`` as a real process in front of the real oidc-provider
(no registration there), with ``zeroauth serve`` trusting the bridge: zeroauth's client gets in
knowing only the MCP URL; ``--check`` validates the file and names the callback to register;
``zeroauth doctor`` pointed at a bridged server reports every check passed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from tests.helpers.bridge import BRIDGE_CLIENT, BRIDGE_SECRET, SCOPES, bridge_world
from tests.integration.test_cli_servers import _free_port, _wait_for
from tests.realas.fixtures import RealASFactory
from zeroauth.cli.app import app
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT

pytestmark = pytest.mark.realas

CLI = [sys.executable, "-m", "zeroauth.cli"]


def write_toml(path: Path, *, issuer: str, mcp_url: str, upstream: str, api: str) -> None:
    path.write_text(
        f"""
[bridge]
issuer = "{issuer}"
database = "{path.parent / "bridge.sqlite"}"
encryption_key_env = "BRIDGE_KEY"
auto_approve = true
allow_loopback_cimd = true

[[resource]]
url = "{mcp_url}"
scopes = {json.dumps(list(SCOPES))}

[upstream]
issuer = "{upstream}"
client_id = "{BRIDGE_CLIENT}"
client_secret_env = "BRIDGE_UPSTREAM_SECRET"
scopes = ["openid"]
resource = "{api}"
"""
    )


@pytest.fixture
def bridged(real_as_factory: RealASFactory, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    bridge_port, mcp_port = _free_port(), _free_port()
    issuer, mcp_url = f"http://127.0.0.1:{bridge_port}", f"http://127.0.0.1:{mcp_port}/mcp"
    client = {"client_id": BRIDGE_CLIENT, "client_secret": BRIDGE_SECRET,
              "redirect_uris": [f"{issuer}/callback"],
              "grant_types": ["authorization_code", "refresh_token"]}  # fmt: skip
    upstream = real_as_factory(dcr=False, scopes=" ".join(SCOPES), clients=[client])
    toml = tmp_path / "bridge.toml"
    write_toml(toml, issuer=issuer, mcp_url=mcp_url, upstream=upstream.issuer,
               api=f"{upstream.base_url}/api")  # fmt: skip
    env = {**os.environ, "ZEROAUTH_HOME": str(tmp_path),
           "BRIDGE_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
           "BRIDGE_UPSTREAM_SECRET": BRIDGE_SECRET}  # fmt: skip
    bridge = subprocess.Popen([*CLI, "bridge", "--config", str(toml)], env=env,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    serve = subprocess.Popen([*CLI, "serve", "--port", str(mcp_port), "--issuer", issuer],
                             env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(f"{issuer}/.well-known/oauth-authorization-server", bridge)
        _wait_for(f"http://127.0.0.1:{mcp_port}/.well-known/oauth-protected-resource/mcp", serve)
        yield mcp_url, toml
    finally:
        for proc in (bridge, serve):
            proc.terminate()
            proc.wait(10)


def test_bridge_command_lets_the_client_in_through_the_upstream(
    bridged: tuple[str, Path],
) -> None:
    mcp_url, toml = bridged
    auth = ZeroAuth(store=MemoryTokenStore(), url_policy=DEVELOPMENT,
                    user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "add_note", "arguments": {"text": "via the bridge"}}}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(mcp_url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert "added note" in response.json()["result"]["content"][0]["text"]
    assert (toml.parent / "bridge.sqlite").exists()


def test_bridge_check_names_the_callback_and_refuses_a_missing_secret(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    write_toml(toml, issuer="https://bridge.example", mcp_url="https://mcp.example/mcp",
               upstream="https://idp.example", api="https://api.example")  # fmt: skip
    env = {**os.environ, "BRIDGE_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
           "BRIDGE_UPSTREAM_SECRET": "s"}  # fmt: skip
    ok = subprocess.run([*CLI, "bridge", "--config", str(toml), "--check"], env=env,
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["callback (register it at the identity provider)"] == (
        "https://bridge.example/callback"
    )
    del env["BRIDGE_UPSTREAM_SECRET"]
    bad = subprocess.run([*CLI, "bridge", "--config", str(toml), "--check"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "BRIDGE_UPSTREAM_SECRET" in bad.stderr


def test_zeroauth_doctor_pointed_at_a_bridged_server_reports_all_pass(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with bridge_world(real_as_factory, tmp_path) as w:
        result = CliRunner().invoke(app, ["doctor", w.mcp_url, "--allow-loopback", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["counts"]["fail"] == 0
    assert report["counts"]["warn"] == 0
