"""Serve ASGI apps on 127.0.0.1 inside the running event loop (demo, ``zeroauth serve``).

Sockets are bound first (port 0 → an ephemeral port), so apps that must know their own and each
other's URLs (an issuer, a resource) can be built before uvicorn starts.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from zeroauth.devserver import DevCertificates

__all__ = ["bind_loopback", "serve_socket"]


def bind_loopback(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on a loopback address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only for TCP-tagged sockets.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class _Quiet(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the caller owns signals
        return None


@asynccontextmanager
async def serve_socket(
    app: Any, sock: socket.socket, *, tls: DevCertificates | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` on an already bound ``sock`` until the block exits; yields the base URL.
    With ``tls`` the server speaks https with the development leaf."""
    host, port = sock.getsockname()[:2]
    base_url = f"{'https' if tls else 'http'}://{host}:{port}"
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, ws="none",
        lifespan="on", timeout_graceful_shutdown=2,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )  # fmt: skip
    server = _Quiet(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:
                if server.should_exit:
                    raise RuntimeError(f"could not serve on {base_url}")
                await anyio.sleep(0.005)
            try:
                yield base_url
            finally:
                server.should_exit = True
    finally:
        sock.close()
