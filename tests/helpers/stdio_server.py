"""A tiny official-SDK MCP server on stdio, for the gateway's stdio upstream tests.

Run as ``python tests/helpers/stdio_server.py``. Its tools report what the sandbox looks like
from inside (environment, limits, working directory, session) and every byte it received on
stdin, so tests can prove what reached it and what did not (G-16, G-17).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import threading
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

RECEIVED: list[bytes] = []
READ = ToolAnnotations(readOnlyHint=True)
LIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nofile": resource.RLIMIT_NOFILE,
    "fsize": resource.RLIMIT_FSIZE,
    "core": resource.RLIMIT_CORE,
}


def tee_stdin() -> None:
    """Put a pipe between the real stdin and the SDK, keeping a copy of every line."""
    real = os.dup(0)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)

    def pump() -> None:
        with os.fdopen(real, "rb") as src, os.fdopen(write_end, "wb", buffering=0) as dst:
            for line in src:
                RECEIVED.append(line)
                dst.write(line)

    threading.Thread(target=pump, daemon=True).start()


server = MCPServer("files", log_level="WARNING")


@server.tool(annotations=READ)
async def echo(text: str, delay: float = 0.0) -> str:
    """Answer with the text, after ``delay`` seconds."""
    await asyncio.sleep(delay)
    return text


@server.tool(annotations=READ)
def inside() -> dict[str, Any]:
    """What the sandbox looks like from inside."""
    with open("/proc/self/environ", "rb") as file:
        initial = [e.split(b"=", 1)[0].decode() for e in file.read().split(b"\0") if e]
    return {
        "pid": os.getpid(),
        "session_leader": os.getsid(0) == os.getpid(),
        "environ": dict(os.environ),
        "initial_environ": sorted(initial),
        "cwd": os.getcwd(),
        "umask": oct(os.umask(0o077)),
        "limits": {name: list(resource.getrlimit(kind)) for name, kind in LIMITS.items()},
    }


@server.tool(annotations=READ)
def received() -> str:
    """Every line that reached this process on stdin so far."""
    return b"".join(RECEIVED).decode("utf-8", "replace")


@server.tool(annotations=READ)
def spawn_sleeper() -> int:
    """Start a grandchild that outlives nothing: the gateway must kill the whole group."""
    return subprocess.Popen(["sleep", "300"]).pid


@server.tool()
def write_note(text: str) -> str:
    """A write tool (needs the write scope)."""
    with open("note.txt", "w", encoding="utf-8") as file:
        file.write(text)
    return os.path.abspath("note.txt")


if __name__ == "__main__":
    tee_stdin()
    print("stdio test server: ready", file=sys.stderr, flush=True)
    server.run(transport="stdio")
