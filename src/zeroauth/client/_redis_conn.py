"""One Redis (or Valkey) server as the shared store of a fleet: clients, scripts, errors.

The official ``redis`` client (``redis.Redis``, thread-safe connection pool). Async callers
await the same calls run in a worker thread (``anyio.to_thread``), on asyncio and trio alike.
Why not ``redis.asyncio``: its connections belong to the event loop that opened them, and a
token store outlives loops (one ``ZeroAuth`` used across ``asyncio.run`` calls, tests, trio),
which leaves connections of dead loops open; and Redis is only on the cold path here (first
load, refresh, lease), never on a warm call, so a thread hop costs nothing that matters.
``rediss://`` (TLS), ACL ``user:password@`` and every ``redis.Redis.from_url`` option pass
through unchanged.

Every command goes through ``call`` / ``acall``: it counts round trips (benches, tests) and
turns a connection, timeout or authentication failure into ``StoreUnavailableError`` naming
the URL with its password redacted (threat A16: no secret in an exception message).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread

from zeroauth.core.errors import StoreUnavailableError

__all__ = ["RedisConnection", "checked_prefix", "redact_url", "require_redis"]

T = TypeVar("T")


def require_redis() -> Any:
    """The ``redis`` package (the ``zeroauth[redis]`` extra), imported on first use so that
    ``zeroauth.client`` imports without it."""
    try:
        import redis
        import redis.exceptions
    except ImportError:  # pragma: no cover - the extra is installed where tests run
        raise StoreUnavailableError(
            "RedisTokenStore needs the redis package",
            hint="pip install 'zeroauth[redis]'",
        ) from None
    return redis


def _down_errors() -> tuple[type[BaseException], ...]:
    redis = require_redis()
    return (
        redis.exceptions.ConnectionError,  # also AuthenticationError, refused, reset
        redis.exceptions.TimeoutError,
        redis.exceptions.ResponseError,  # NOPERM (ACL), READONLY replica, script errors
        OSError,
    )


def checked_prefix(prefix: str) -> str:
    """A key prefix: non-empty and free of ``{``/``}``, since it becomes the ``{prefix}`` hash
    tag that keeps a deployment's keys in one Redis Cluster slot."""
    if not prefix or any(c in prefix for c in "{}"):
        raise ValueError("prefix must be non-empty and contain no '{' or '}'")
    return prefix


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (the user name is kept)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisConnection:
    """The clients of one Redis URL, shared by a store and its leases."""

    def __init__(self, url: str | None, options: dict[str, Any], client: Any = None) -> None:
        if (url is None) == (client is None):
            raise ValueError("give a Redis URL or a redis.Redis client, not both")
        self.url = url
        self.where = redact_url(url) if url is not None else f"a supplied {type(client).__name__}"
        self._options = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0, **options}
        self._redis = require_redis()
        self._down = _down_errors()
        self._sync: Any = client  # redis.Redis (e.g. Sentinel(...).master_for(name))
        self._owned = client is None  # a supplied client is closed by its owner
        self._guard = threading.Lock()
        self.round_trips = 0  # commands and scripts sent (pub/sub waits not counted)

    def __repr__(self) -> str:
        return f"RedisConnection({self.where!r})"

    def down(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            "the shared token store (Redis) cannot be reached",
            where=self.where,
            found=type(exc).__name__,
            hint="check that Redis runs and the URL, TLS and ACL user/password are right; "
            "calls with tokens already in memory keep working until they need a refresh",
        )

    @property
    def sync(self) -> Any:
        """The ``redis.Redis`` client (created on first use)."""
        with self._guard:
            if self._sync is None:
                self._sync = self._redis.Redis.from_url(self.url, **self._options)
            return self._sync

    def call(self, fn: Callable[[Any], T], *, count: bool = True) -> T:
        if count:
            with self._guard:
                self.round_trips += 1
        try:
            return fn(self.sync)
        except self._down as exc:
            raise self.down(exc) from None

    async def acall(self, fn: Callable[[Any], T], *, count: bool = True) -> T:
        """``call``, awaited: run in a worker thread, the event loop keeps running."""
        return await anyio.to_thread.run_sync(lambda: self.call(fn, count=count))

    def close(self) -> None:
        if not self._owned:
            return
        with self._guard:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)
