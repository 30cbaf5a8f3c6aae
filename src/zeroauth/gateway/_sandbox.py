"""The sandbox of a stdio upstream's child process (SPEC G-17), portable on Linux without root.

MCP security best practices, "stdio Transport Security in Proxy Scenarios" and "Local MCP
Server Compromise": an argv list (no shell), an environment of ``PATH`` plus an explicit
allow-list, a configured or fresh working directory, ``setrlimit`` limits (CPU seconds, address
space, open files, file size, no core dumps; soft = hard so the child cannot raise them), umask
077, and a new session so the whole process tree can be signalled. No file-system or network
isolation: that needs namespaces (bubblewrap, containers; see docs/gateway.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Callable

from zeroauth.gateway._config import StdioConfig

__all__ = ["child_env", "sandbox_limits", "signal_group", "spawn"]


def sandbox_limits(config: StdioConfig) -> list[tuple[int, int]]:
    """The ``(RLIMIT_*, value)`` pairs applied in the child (soft = hard: it cannot raise them)."""
    mib = 1024 * 1024
    pairs = [
        (resource.RLIMIT_CPU, config.cpu_seconds),
        (resource.RLIMIT_AS, config.memory_mb * mib),
        (resource.RLIMIT_NOFILE, config.max_open_files),
        (resource.RLIMIT_FSIZE, config.max_file_mb * mib),
    ]
    return [(kind, value) for kind, value in pairs if value > 0] + [(resource.RLIMIT_CORE, 0)]


def _preexec(limits: list[tuple[int, int]]) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec: no locks, no logging
        os.umask(0o077)
        for kind, value in limits:
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(kind, (value, value))

    return apply


def child_env(config: StdioConfig) -> dict[str, str]:
    """The child's whole environment: the gateway's ``PATH`` and the configured variables."""
    return {"PATH": os.environ.get("PATH", os.defpath), **config.env}


async def spawn(
    config: StdioConfig, cwd: str, env: dict[str, str], limit: int
) -> asyncio.subprocess.Process:
    """Start the child with pipes on stdin/stdout/stderr, in the sandbox described above."""
    return await asyncio.create_subprocess_exec(
        *config.command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_preexec(sandbox_limits(config)),
        limit=limit,
    )


def signal_group(pid: int, sig: int) -> None:
    """Signal the child's whole process group (it is the session leader), if still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
