"""zeroauth.core is sans-IO: importing it pulls in no HTTP client, web framework or async lib."""

import subprocess
import sys

FORBIDDEN = ("httpx", "httpx2", "starlette", "uvicorn", "anyio", "asyncio", "fastapi", "mcp")

_PROBE = """
import importlib, pkgutil, sys
import zeroauth.core as core
for info in pkgutil.walk_packages(core.__path__, "zeroauth.core."):
    importlib.import_module(info.name)
print(",".join(sorted(n for n in sys.modules if n.split(".")[0] in FORBIDDEN)))
"""


def test_core_imports_no_io_library() -> None:
    code = f"FORBIDDEN = {FORBIDDEN!r}\n{_PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"zeroauth.core imported I/O modules: {out}"


def test_import_zeroauth_core_pulls_no_httpx_or_starlette() -> None:
    code = (
        "import sys, zeroauth.core\n"
        "print(sorted(m for m in ('httpx', 'httpx2', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_cli_starts_without_the_mcp_sdk() -> None:
    """``zeroauth --help`` must work for client-only installs (no ``mcp``/``fastmcp``)."""
    code = (
        "import sys, zeroauth.cli.app\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'fastmcp')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
