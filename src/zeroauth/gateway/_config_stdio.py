"""The ``command`` half of an ``[[upstream]]`` table: a local MCP server run over stdio (G-17).

MCP transports 2025-11-25 (stdio: newline-delimited JSON-RPC on stdin/stdout, logs on stderr)
and the MCP security best practices ("stdio Transport Security in Proxy Scenarios", "Local MCP
Server Compromise"): the command is fixed by the operator's file, never by a caller; it is an
argv list (no shell: a string or a shell as ``argv[0]`` is refused); the child sees only the
listed environment; its working directory and resource limits are configured here.
"""

from __future__ import annotations

import os
import re
import shutil

from zeroauth.gateway._config_reader import Reader
from zeroauth.gateway._config_types import StdioConfig

__all__ = ["HTTP_ONLY", "stdio_section"]

HTTP_ONLY = ("url", "max_connections", "verify_tls", "ca_file", "credentials")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LIMITS = (
    ("cpu_seconds", 3600, "CPU seconds over the process lifetime"),
    ("memory_mb", 2048, "address space in MiB"),
    ("max_open_files", 256, "open file descriptors"),
    ("max_file_mb", 1024, "largest file the server may write, in MiB"),
    ("stderr_lines", 100, "stderr lines logged per 10 seconds"),
)


def stdio_section(r: Reader) -> StdioConfig:
    """Read ``command``, ``env``, ``pass_env``, ``cwd`` and the limits from ``r``'s table."""
    for key in HTTP_ONLY:
        if key in r.data:
            r.fail(
                key,
                "not for stdio upstreams",
                expected="url or command, not both",
                found=key,
                hint="a stdio upstream is started by the gateway; pass secrets with pass_env",
            )
    raw = r.get("command", list, None, 'an argv list, e.g. ["python", "-m", "my_server"]')
    if raw is None:
        r.fail(
            "command",
            "the command must be an argv list (no shell)",
            expected='["program", "arg", ...]',
            found=r.data.get("command"),
            hint='write command = ["python", "-m", "my_server"], not a command line string',
        )
    command = tuple(raw)
    if not command or not all(isinstance(a, str) and a and "\0" not in a for a in command):
        r.fail(
            "command",
            "empty command or empty/non-string argument",
            expected="non-empty strings",
            found=list(command),
            hint='e.g. ["python", "-m", "my_server"]',
        )
    program = os.path.basename(command[0])
    if program in _SHELLS:
        r.fail(
            "command",
            "a shell as the command",
            expected="the server program itself",
            found=command[0],
            hint="run the server's executable directly; a shell would interpret its arguments",
        )
    env: dict[str, str] = {}
    for key, value in r.get("env", dict, {}, 'a table: NAME = "value"').items():
        if not _ENV_NAME.fullmatch(key) or not isinstance(value, str) or "\0" in value:
            r.fail(
                f"env.{key}",
                "invalid environment entry",
                expected="NAME = string",
                found=value,
                hint="names are letters, digits and _; values are strings",
            )
        env[key] = value
    for name in r.get("pass_env", list, [], 'names of the gateway\'s variables, e.g. ["TZ"]'):
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            r.fail(
                "pass_env",
                "invalid variable name",
                expected="NAME",
                found=name,
                hint="list variable names, not values",
            )
        if name not in os.environ:
            r.fail(
                "pass_env",
                f"environment variable {name} is not set",
                expected="set in the gateway's environment",
                found=None,
                hint=f"export {name}=... before starting the gateway",
            )
        env[name] = os.environ[name]
    if "PATH" in env:
        r.fail(
            "env",
            "PATH is set by the gateway",
            expected="no PATH entry",
            found="PATH",
            hint="give command[0] as an absolute path instead",
        )
    path = os.environ.get("PATH", os.defpath)
    if shutil.which(command[0], path=path) is None:
        r.fail(
            "command",
            "program not found or not executable",
            expected="an executable on the gateway's PATH or an absolute path",
            found=command[0],
            hint="check the spelling, or give the absolute path",
        )
    cwd = r.get("cwd", str, None, "an existing directory (default: a fresh temporary one)")
    if cwd is not None and not os.path.isdir(cwd):
        r.fail(
            "cwd",
            "not a directory",
            expected="an existing directory",
            found=cwd,
            hint="create it first, or leave cwd out for a fresh temporary directory",
        )
    limits: dict[str, int] = {}
    for key, default, what in _LIMITS:
        value = r.get(key, int, default, f"{what}; 0 = not limited")
        if value < 0:
            r.fail(key, "must not be negative", expected=">= 0", found=value, hint="0 = off")
        limits[key] = value
    return StdioConfig(command=command, env=env, cwd=cwd, **limits)
