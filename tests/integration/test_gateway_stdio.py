"""Stdio upstreams: a real official-SDK MCP server started by the gateway as a sandboxed child.

G-17 (sandbox, restricted environment and limits, logging), G-16 (the caller's token never
reaches the child: not in its environment, not in the bytes on its stdin), S-15/S-16 (403 with
the exact ``scope=``), and the operational promises: concurrent callers multiplexed over one
pipe, a killed child fails only its own upstream and is restarted with backoff. The gateway runs
without an authorization server (the static JWKS verifier of ``test_gateway_ops``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.gateway import FakeUpstream, call, gateway_for, token
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidInput
from zeroauth.gateway import parse_config
from zeroauth.gateway._stdio import StdioUpstream

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).parents[1] / "helpers" / "stdio_server.py")
READ = "mcp:files:read"
WRITE = "mcp:files:write"


def files(**extra: Any) -> dict[str, Any]:
    return {"command": [sys.executable, SERVER], "prefix": "files_", **extra}


def text_of(response: Any) -> str:
    body = response.json()
    assert "result" in body, body
    content: str = body["result"]["content"][0]["text"]
    return content


async def inside(http: Any, url: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(text_of(await http.post(url, json=call("files_inside"))))
    return found


async def test_g17_tools_prefixed_filtered_by_scope_and_called_403_with_exact_scope() -> None:
    async with gateway_for({"files": files()}, scope=READ) as (gw, _, http):
        url = gw.url("/mcp")
        listed = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        names = {tool["name"] for tool in listed.json()["result"]["tools"]}
        assert names == {"files_echo", "files_inside", "files_received", "files_spawn_sleeper"}
        assert text_of(await http.post(url, json=call("files_echo", {"text": "hi"}))) == "hi"
        denied = await http.post(url, json=call("files_write_note", {"text": "x"}))
        assert denied.status_code == 403
        challenge = read_bearer_challenge(denied.headers["www-authenticate"])
        assert challenge is not None
        assert challenge.error == "insufficient_scope"
        assert challenge.scope == (WRITE,)
        assert denied.json()["scope"] == WRITE
        writer = {"Authorization": f"Bearer {token(url, f'{READ} {WRITE}')}"}
        written = await http.post(url, json=call("files_write_note", {"text": "x"}), headers=writer)
        assert Path(text_of(written)).name == "note.txt"


async def test_g16_g17_sandbox_env_limits_cwd_session_and_no_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zeroauth.gateway.stdio")
    monkeypatch.setenv("PASSED_ON", "from-the-gateway")
    monkeypatch.setenv("GATEWAY_SECRET", "never-in-the-child")
    limits = {"cpu_seconds": 120, "memory_mb": 1024, "max_open_files": 64, "max_file_mb": 8}
    spec = files(env={"GREETING": "hello"}, pass_env=["PASSED_ON"], **limits)
    async with gateway_for({"files": spec}, scope=READ) as (gw, _, http):
        url = gw.url("/mcp")
        caller = http.headers["authorization"].removeprefix("Bearer ")
        seen = await inside(http, url)
        # exactly what execve got: the allow-list plus PATH (os.environ may add Python's own
        # PEP 538 LC_CTYPE coercion on a C locale, which the gateway did not pass)
        assert seen["initial_environ"] == ["GREETING", "PASSED_ON", "PATH"]
        assert set(seen["environ"]) - {"LC_CTYPE"} == {"GREETING", "PASSED_ON", "PATH"}
        assert seen["environ"]["PASSED_ON"] == "from-the-gateway"
        assert seen["environ"]["GREETING"] == "hello"
        mib = 1024 * 1024
        assert seen["limits"] == {
            "cpu": [120, 120],
            "as": [1024 * mib, 1024 * mib],
            "nofile": [64, 64],
            "fsize": [8 * mib, 8 * mib],
            "core": [0, 0],
        }
        assert seen["session_leader"] is True  # own session and process group
        assert seen["umask"] == "0o77"
        cwd = Path(seen["cwd"])
        assert cwd.name.startswith("zeroauth-files-")
        assert cwd.parent == Path(tempfile.gettempdir())
        assert caller not in json.dumps(seen)
        received = text_of(await http.post(url, json=call("files_received")))
        assert '"method":"tools/call"' in received  # the tee works...
        assert caller not in received  # ...and the caller's token never crossed the pipe (G-16)
        assert "authorization" not in received.lower()
        grandchild = int(text_of(await http.post(url, json=call("files_spawn_sleeper"))))
        assert _alive(grandchild)
    # the gateway has shut down: the child, its whole process group and its temp dir are gone
    assert not _alive(grandchild)
    assert not cwd.exists()
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith(".stdio")]
    start = next(e for e in events if e["event"] == "stdio.start")
    assert start["env"] == ["GREETING", "PASSED_ON", "PATH"]  # names only, never values
    assert "never-in-the-child" not in caplog.text
    assert "from-the-gateway" not in caplog.text
    assert any(
        e["event"] == "stdio.stderr" and e["line"] == "stdio test server: ready" for e in events
    )


async def test_concurrent_callers_get_their_own_answers() -> None:
    async with gateway_for({"files": files()}, scope=READ) as (gw, _, http):
        url = gw.url("/mcp")

        async def one(n: int) -> Any:
            delay = (20 - n) * 0.01  # later requests answer first
            return await http.post(url, json=call("files_echo", {"text": f"n{n}", "delay": delay}))

        replies = await asyncio.gather(*(one(n) for n in range(20)))
        for n, reply in enumerate(replies):
            assert reply.json()["id"] == 1
            assert text_of(reply) == f"n{n}"


async def test_killed_child_fails_only_its_upstream_then_is_restarted() -> None:
    fake = FakeUpstream()
    async with serve_asgi_async(fake) as up:
        upstreams = {"files": files(), "fake": up.url("/mcp")}
        scope = f"{READ} mcp:fake:read"
        async with gateway_for(upstreams, scope=scope) as (gw, app, http):
            url = gw.url("/mcp")
            first = (await inside(http, url))["pid"]
            os.kill(first, signal.SIGKILL)
            down = (await http.post(url, json=call("files_echo", {"text": "x"}))).json()
            assert down["error"]["code"] == -32010
            assert down["error"]["data"] == {"upstream": "files"}
            assert "files" in down["error"]["message"]
            other = await http.post(url, json=call("fake_echo", {"still": "up"}))
            assert text_of(other) == '{"still": "up"}'
            deadline = time.monotonic() + 20
            while True:
                reply = await http.post(url, json=call("files_echo", {"text": "back"}))
                if "result" in reply.json() or time.monotonic() > deadline:
                    break
                assert reply.json()["error"]["code"] == -32010
                await asyncio.sleep(0.1)
            assert text_of(reply) == "back"
            assert (await inside(http, url))["pid"] != first
            stdio = next(u for u in app.aggregator.upstreams if isinstance(u, StdioUpstream))
            assert stdio.starts == 2


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"command": "python -m server"}, "command"),  # a string would need a shell
        ({"command": ["/bin/sh", "-c", "python -m server"]}, "command"),
        ({"command": []}, "command"),
        ({"command": ["no-such-program-zeroauth"]}, "command"),
        ({"url": "http://127.0.0.1:1/mcp"}, "url"),
        ({"credentials": {"type": "none"}}, "credentials"),
        ({"env": {"PATH": "/tmp"}}, "env"),
        ({"pass_env": ["ZEROAUTH_SURELY_UNSET"]}, "pass_env"),
        ({"cwd": "/nonexistent/zeroauth"}, "cwd"),
        ({"memory_mb": -1}, "memory_mb"),
    ],
    ids=["string", "shell", "empty", "missing", "url", "creds", "path", "unset", "cwd", "neg"],
)
def test_g17_stdio_config_refusals_name_the_key(extra: dict[str, Any], key: str) -> None:
    table = {"name": "files", "command": [sys.executable, SERVER], **extra}
    with pytest.raises(InvalidInput) as caught:
        parse_config(
            {
                "gateway": {"resource": "https://mcp.example.com/mcp"},
                "issuer": [{"issuer": "https://idp.example.com"}],
                "upstream": [table],
            }
        )
    assert caught.value.where == f"gateway.toml: upstream[0].{key}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_g17_docs_stdio_example_parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The stdio example of docs/gateway.md uses only valid keys (paths made local)."""
    monkeypatch.setenv("FILES_API_KEY", "k")
    text = (Path(__file__).parents[2] / "docs" / "gateway.md").read_text()
    block = next(b for b in text.split("```toml\n")[1:] if 'name = "files"' in b)
    block = block.split("```", 1)[0].replace("/opt/mcp/venv/bin/python", sys.executable)
    block = block.replace("/srv/shared", str(tmp_path))
    config = parse_config(
        {
            "gateway": {"resource": "https://mcp.example.com/mcp"},
            "issuer": [{"issuer": "https://idp.example.com"}],
            **tomllib.loads(block),
        }
    )
    files = config.upstreams[0]
    assert files.transport == "stdio"
    assert files.stdio is not None
    assert files.stdio.env == {"LOG_LEVEL": "warning", "FILES_API_KEY": "k"}
    assert files.tools == {"delete_file": ("mcp:admin",)}
