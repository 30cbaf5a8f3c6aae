"""Serve any ASGI app under uvicorn on 127.0.0.1 with an ephemeral port, for tests.

We bind the listening socket ourselves (port 0), so the port is known and reserved before
uvicorn starts, and hand it to uvicorn. Readiness is uvicorn's own ``started`` flag, signalled
from ``startup()`` through an event: no sleeps, no polling of the port. Teardown asks uvicorn
to exit, waits for its graceful shutdown (lifespan shutdown included) and forces it after
``shutdown_timeout``.

- ``serve_asgi(app)``: sync context manager, uvicorn in a thread with its own event loop.
  Works from sync tests and from async tests on any backend (the server is in its own thread).
- ``serve_asgi_async(app)``: ``async with``, uvicorn as a task of the running asyncio loop
  (anyio's asyncio backend; uvicorn itself needs asyncio, so not under trio).

Either takes ``app`` or ``factory=lambda base_url: app`` for apps that must know their own URL
(a resource server's ``resource`` is its URL). uvicorn never installs signal handlers here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn

__all__ = ["ServedApp", "serve_asgi", "serve_asgi_async"]

ASGIApp = Callable[..., Any]
LOOPBACK = frozenset({"127.0.0.1", "::1"})
STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ServedApp:
    """Where the app is served."""

    host: str
    port: int
    server: uvicorn.Server

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "") -> str:
        return f"{self.base_url}{path}"


class _Server(uvicorn.Server):
    """uvicorn, plus a readiness callback and without signal handling (tests own signals)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str) -> socket.socket:
    if host not in LOOPBACK:
        raise ValueError(f"serve_asgi binds loopback only (127.0.0.1 or ::1), not {host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP; without it every two-write response waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, 0))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _prepare(
    app: ASGIApp | None,
    factory: Callable[[str], ASGIApp] | None,
    host: str,
    on_started: Callable[[], None],
    config: dict[str, Any],
) -> tuple[socket.socket, _Server, ServedApp]:
    if (app is None) == (factory is None):
        raise TypeError("pass exactly one of app or factory")
    sock = _bind(host)
    try:
        port = sock.getsockname()[1]
        base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        target = app if app is not None else factory(base_url)  # type: ignore[misc]
        options: dict[str, Any] = {
            "log_config": None,  # leave logging (and pytest's caplog) alone
            "log_level": "warning",
            "access_log": False,
            "lifespan": "auto",
            "ws": "none",  # MCP is plain HTTP; avoids importing websockets' deprecated API
            "timeout_graceful_shutdown": SHUTDOWN_TIMEOUT,
            **config,
        }
        server = _Server(uvicorn.Config(target, **options), on_started)
    except BaseException:
        sock.close()
        raise
    return sock, server, ServedApp(host, port, server)


@contextlib.contextmanager
def serve_asgi(
    app: ASGIApp | None = None,
    *,
    factory: Callable[[str], ASGIApp] | None = None,
    host: str = "127.0.0.1",
    **config: Any,
) -> Iterator[ServedApp]:
    """Serve ``app`` in a background thread for the duration of the ``with`` block."""
    ready = threading.Event()
    sock, server, served = _prepare(app, factory, host, ready.set, config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from a failed lifespan startup, too
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"uvicorn-{served.port}", daemon=True)
    thread.start()
    try:
        ready.wait(STARTUP_TIMEOUT)
        if not server.started:
            raise RuntimeError(f"uvicorn did not start on {served.base_url}") from (
                failure[0] if failure else None
            )
        yield served
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT + 1)
        if thread.is_alive():
            server.force_exit = True
            thread.join()
        sock.close()
    if failure and not isinstance(failure[0], SystemExit):
        raise RuntimeError(f"uvicorn on {served.base_url} failed") from failure[0]


@contextlib.asynccontextmanager
async def serve_asgi_async(
    app: ASGIApp | None = None,
    *,
    factory: Callable[[str], ASGIApp] | None = None,
    host: str = "127.0.0.1",
    **config: Any,
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` as a task of the running asyncio loop during the ``async with`` block."""
    ready = anyio.Event()
    done = anyio.Event()
    sock, server, served = _prepare(app, factory, host, ready.set, config)
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        except (Exception, SystemExit) as exc:  # SystemExit: failed lifespan startup
            failure.append(exc)
        finally:
            ready.set()
            done.set()

    # A plain asyncio task rather than a task group: an exception from the body then reaches
    # the caller as itself, not wrapped in an ExceptionGroup.
    task = asyncio.get_running_loop().create_task(run(), name=f"uvicorn-{served.port}")
    try:
        with anyio.fail_after(STARTUP_TIMEOUT):
            await ready.wait()
        if not server.started:
            raise RuntimeError(f"uvicorn did not start on {served.base_url}") from (
                failure[0] if failure else None
            )
        yield served
    finally:
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(SHUTDOWN_TIMEOUT + 1):
                await done.wait()
            if not done.is_set():
                server.force_exit = True
            await task
        sock.close()
    if failure and not isinstance(failure[0], SystemExit):
        raise RuntimeError(f"uvicorn on {served.base_url} failed") from failure[0]
