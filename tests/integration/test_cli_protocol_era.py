"""``zeroauth call`` remembers each server's protocol era (issue 18 item 7).

MCP 2026-07-28 lifecycle: a client probes ``server/discover``; a handshake-era server refuses it
and the client falls back to ``initialize``. After the first call the CLI goes straight to what
worked, so every later call sends one request fewer. Real servers on loopback: the dev AS and the
demo MCP server (official SDK, speaks both eras), once as is and once behind a layer that makes
it a handshake-era-only server; every request they receive is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.recorder import Recorder
from zeroauth.cli import eras
from zeroauth.cli.app import app
from zeroauth.demo.mcp_server import demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

DEV = ["--headless", "--allow-loopback"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def _jsonrpc_error(request_id: Any, code: int, message: str) -> bytes:
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json.dumps(error).encode()


def handshake_era_only(inner: Any) -> Any:
    """A server of the 2025-11-25 era: an authorized ``server/discover`` is an unknown method
    (JSON-RPC -32601) and a request stamped with a 2026-era ``MCP-Protocol-Version`` is refused
    with 400 (MCP 2025-11-25 "Protocol Version Header"); everything else goes to the real server."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await inner(scope, receive, send)
            return
        message = await receive()
        body = message.get("body", b"")
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            request_id = json.loads(body).get("id") if body else None
            answer = None
            if b'"server/discover"' in body:
                status, answer = 200, _jsonrpc_error(request_id, -32601, "Method not found")
            elif headers.get(b"mcp-protocol-version", b"").startswith(b"2026"):
                status, answer = 400, _jsonrpc_error(request_id, -32600, "Unsupported version")
            if answer is not None:
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": answer})
                return
        replayed = [message]

        async def replay() -> Any:
            return replayed.pop() if replayed else await receive()

        await inner(scope, replay, send)

    return asgi


@contextmanager
def demo_world(*, legacy: bool) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> Any:
        config = DevServerConfig(issuer=base, resources=resources, auto_approve=True)
        return DevAuthorizationServer(config).app()

    def make_mcp(base: str) -> Any:
        served = demo_app(f"{base}/mcp", auth.base_url)
        return recorder.wrap("mcp", handshake_era_only(served) if legacy else served)

    with serve_asgi(factory=make_as) as auth, serve_asgi(factory=make_mcp) as mcp:
        url = mcp.url("/mcp")
        resources.append(ProtectedResource(url, ("notes:read", "notes:write")))
        yield url, recorder


def methods(recorder: Recorder) -> list[str]:
    """The JSON-RPC methods the MCP server received with a token, in order."""
    found = []
    for seen in recorder.seen:
        if seen.server == "mcp" and seen.method == "POST" and seen.authorization:
            found.append(json.loads(seen.body).get("method", "?"))
    return found


def call(url: str) -> None:
    result = CliRunner().invoke(app, ["call", url, "list_notes", *DEV])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("legacy", [False, True], ids=["2026-era", "handshake-era"])
def test_the_second_call_skips_the_era_probe(home: Path, legacy: bool) -> None:
    with demo_world(legacy=legacy) as (url, recorder):
        assert CliRunner().invoke(app, ["login", url, *DEV]).exit_code == 0
        recorder.clear()
        call(url)
        first = methods(recorder)
        recorder.clear()
        call(url)
        second = methods(recorder)
    assert first[0] == "server/discover"
    assert len(second) == len(first) - 1  # one round trip less
    assert "server/discover" not in second
    if legacy:
        assert first[1] == "initialize"
        assert second[0] == "initialize"
        assert eras.remembered(url) == (eras.LEGACY, None)
    else:
        known = eras.remembered(url)
        assert known is not None
        assert known[0] != eras.LEGACY


def test_a_stale_era_is_forgotten_and_probed_again(home: Path) -> None:
    """A server that went back to the handshake era after a 2026-era visit: the remembered
    discover result fails before the tool call, the CLI probes again and remembers the new era;
    the tool runs once."""
    with demo_world(legacy=False) as (modern_url, _):
        call(modern_url)
        known = eras.remembered(modern_url)
    assert known is not None
    with demo_world(legacy=True) as (url, recorder):
        eras.remember(url, *known)
        call(url)
        seen = methods(recorder)
    assert seen.count("tools/call") == 1
    assert "initialize" in seen
    assert eras.remembered(url) == (eras.LEGACY, None)


def test_a_damaged_era_file_only_costs_the_probe(home: Path) -> None:
    eras.remember("https://mcp.example.com/mcp", eras.LEGACY)
    path = home / "data" / "eras.json"
    assert path.exists()
    path.write_text("{not json", encoding="utf-8")
    assert eras.remembered("https://mcp.example.com/mcp") is None
