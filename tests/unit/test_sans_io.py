"""zeroauth.core is sans-IO: importing it pulls in no HTTP client, web framework or async library."""

import subprocess
import sys

FORBIDDEN = ("httpx", "httpx2", "starlette", "uvicorn", "anyio", "asyncio", "fastapi", "mcp")


def test_core_imports_no_io_library() -> None:
    code = (
        "import sys, pkgutil, importlib, zeroauth.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('zeroauth.core.' + m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"zeroauth.core imported I/O modules: {out}"
