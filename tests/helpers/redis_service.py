"""The real Redis on loopback for tests: reachability, skip-or-fail, one key prefix per test.

Tests that need Redis use the ``redis_prefix`` fixture (``tests/conftest.py``): it checks that
``ZEROAUTH_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) answers ``PING``, gives the
test a unique key prefix and deletes every key under it afterwards. Where Redis is not
reachable the test is skipped with a loud reason — unless ``ZEROAUTH_REQUIRE_REDIS=1`` (set by
``.ci/run``), where it fails instead: CI runs Redis, so a missing one is a broken machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Mapping

import pytest

__all__ = [
    "REDIS_URL",
    "TcpProxy",
    "closed_loopback_port",
    "delete_prefix",
    "redis_unreachable",
    "require_redis",
    "unique_prefix",
    "verdict",
]

REDIS_URL = os.environ.get("ZEROAUTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_checked: dict[str, str | None] = {}


def redis_unreachable(url: str = REDIS_URL) -> str | None:
    """Why Redis at ``url`` cannot be used (``None``: it answers PING). Checked once."""
    if url not in _checked:
        try:
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
            try:
                client.ping()
                _checked[url] = None
            finally:
                client.close()
        except ImportError:
            _checked[url] = "the redis package is not installed (pip install 'zeroauth[redis]')"
        except Exception as exc:  # any failure means: no usable Redis here
            _checked[url] = f"Redis at {url} is unreachable ({type(exc).__name__}: {exc})"
    return _checked[url]


def verdict(reason: str, env: Mapping[str, str]) -> tuple[str, str]:
    """``("fail" | "skip", message)`` for a test that needs a Redis that is missing."""
    if env.get("ZEROAUTH_REQUIRE_REDIS") == "1":
        return "fail", f"ZEROAUTH_REQUIRE_REDIS=1 but {reason}"
    return "skip", f"SKIPPED, NEEDS REDIS: {reason} (set ZEROAUTH_REQUIRE_REDIS=1 to fail)"


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or, under ``ZEROAUTH_REQUIRE_REDIS=1``, fail) the calling test without Redis."""
    reason = redis_unreachable(url)
    if reason is None:
        return
    action, message = verdict(reason, os.environ)
    if action == "fail":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_prefix(test_name: str = "t") -> str:
    safe = "".join(c if c.isalnum() else "-" for c in test_name)[:40]
    return f"zatest-{safe}-{secrets.token_hex(4)}"


def delete_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Delete every key of a ``RedisTokenStore`` with ``prefix`` (all start with ``{prefix}``)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{{{prefix}}}*", count=500))
        if names:
            client.delete(*names)
        return len(names)
    finally:
        client.close()


def closed_loopback_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TcpProxy:
    """A loopback TCP forwarder to ``127.0.0.1:<port>``; ``cut()`` closes the listener and
    every open connection (Redis "killed" for whoever goes through the proxy)."""

    def __init__(self, port: int) -> None:
        import threading

        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
