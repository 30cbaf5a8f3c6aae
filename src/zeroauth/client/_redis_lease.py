"""The cross-host lock of a Redis token store: a lease with an owner, a fence and a wake-up.

Threat A12 across hosts (one rotating refresh token redeemed once by a whole fleet, C-48),
with the Redis patterns documented at https://redis.io/docs/latest/develop/use/patterns/:

- **acquire**: ``SET lease owner NX PX ttl`` and, in the same script, ``INCR`` of the prefix's
  fence counter: the holder gets a fencing token larger than every earlier holder's; the
  script also reads the records the holder is about to re-read (``reads``: the token record
  of a refresh), so taking the lease and the fresh read cost one round trip;
- **release / extend by owner only**: compare-and-``DEL`` (which also ``PUBLISH``\\ es the
  release) and compare-and-``PEXPIRE`` scripts, so a holder whose lease expired can never
  release or extend another holder's lease;
- **waiting without busy polling**: a waiter subscribes to the lease's channel, retries once
  (a release between its first try and the subscription is not lost), then sleeps until a
  release message or the lease's remaining TTL (bounded by ``poll``), whichever is first:
  a crashed holder publishes nothing, its lease simply expires;
- **a held lease is kept alive** by a watchdog thread (compare-and-``PEXPIRE`` every
  ``ttl / 3``) for at most ``max_hold`` seconds: a ``kill -9`` of the holder stops it, and the
  lease expires ``ttl`` later.

The fence of every lease a flow holds is kept in a context variable; the store's writes carry
the largest one (``current_fence``), and its compare-and-set refuses a write whose fence is
smaller than the record's (fencing: a stale holder never overwrites a newer token).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from zeroauth.client._redis_conn import RedisConnection
from zeroauth.core.errors import StoreError

__all__ = ["ACQUIRE", "EXTEND", "RELEASE", "RedisLease", "current_fence"]

logger = logging.getLogger("zeroauth.client.stores")

ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local out = {redis.call('incr', KEYS[2]), 0}
  for i = 3, #KEYS do out[#out + 1] = redis.call('hget', KEYS[i], 'd') or '' end
  return out
end
return {0, redis.call('pttl', KEYS[1])}
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('publish', ARGV[2], '1')
  return 1
end
return 0
"""
EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

_fences: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "zeroauth_redis_fences", default=()
)


_held: set[int] = set()  # fences of leases not yet released, whichever context releases them
_held_guard = threading.Lock()


def current_fence() -> int | None:
    """The fencing token of the newest lease this context holds (``None``: none held)."""
    with _held_guard:
        fences = [fence for fence in _fences.get() if fence in _held]
    return max(fences) if fences else None


def _next_message(pubsub: Any, timeout: float, client: object) -> bool:
    """Wait up to ``timeout`` seconds for a release message; ``False`` when none came.
    Subscription confirmations (read as ``None``) do not end the wait."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None and message.get("type") == "message":
            return True
    return False


class RedisLease:
    """``store.lock(name)`` of a ``RedisTokenStore``: sync and async context manager."""

    def __init__(
        self,
        conn: RedisConnection,
        *,
        key: str,
        fence_key: str,
        channel: str,
        ttl: float,
        timeout: float,
        poll: float,
        max_hold: float,
        reads: Mapping[str, tuple[str, str]] | None = None,
        opener: Callable[[str, str, bytes | None], dict[str, Any] | None] | None = None,
    ) -> None:
        """``reads``: Redis key → (kind, key) of records read in the acquiring script, opened
        with ``opener(kind, key, blob)`` when ``records`` is first asked for."""
        self._conn = conn
        self.key = key
        self._fence_key = fence_key
        self.channel = channel
        self.ttl_ms = max(1, int(ttl * 1000))
        self._timeout = timeout
        self._poll = poll
        self._max_hold = max_hold
        self.owner = secrets.token_hex(16)
        self.fence: int | None = None
        self._reads = dict(reads or {})
        self._opener = opener
        self._blobs: list[bytes | None] = []
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"RedisLease({self.key!r}, fence={self.fence})"

    # -- one attempt ------------------------------------------------------------------------

    def _args(self) -> dict[str, Any]:
        keys = [self.key, self._fence_key, *self._reads]
        return {"keys": keys, "args": [self.owner, self.ttl_ms]}

    @property
    def records(self) -> dict[tuple[str, str], dict[str, Any] | None]:
        """The ``reads`` as they were when the lease was taken (empty before)."""
        if self._opener is None or not self._blobs:
            return {}
        opener = self._opener
        return {
            (kind, key): opener(kind, key, blob or None)
            for (kind, key), blob in zip(self._reads.values(), self._blobs, strict=True)
        }

    def _try(self) -> float:
        """Acquire now (0.0) or the seconds the current holder's lease still runs."""
        result = self._conn.call(lambda r: r.register_script(ACQUIRE)(**self._args()))
        return self._took(result)

    async def _atry(self) -> float:
        # Shielded: a lease acquired in Redis is always recorded (and so released), even when
        # the caller is cancelled while the script runs.
        with anyio.CancelScope(shield=True):
            result = await self._conn.acall(lambda r: r.register_script(ACQUIRE)(**self._args()))
        return self._took(result)  # no checkpoint in between

    def _took(self, result: Any) -> float:
        fence, pttl = int(result[0]), int(result[1])
        if fence:
            self._blobs = list(result[2:])
            self.fence = fence
            with _held_guard:
                _held.add(fence)
            _fences.set((*_fences.get(), fence))
            self._start_watchdog()
            return 0.0
        return max(pttl, 1) / 1000.0

    def _timed_out(self) -> StoreError:
        return StoreError(
            "timed out waiting for the shared token store's lease",
            requirement="A12", where=self._conn.where, found=self.key,
            hint="another process holds it; it expires within its TTL if that process died",
        )  # fmt: skip

    # -- sync -------------------------------------------------------------------------------

    def __enter__(self) -> RedisLease:
        if self._try() == 0.0:
            return self
        deadline = time.monotonic() + self._timeout
        pubsub = self._conn.sync.pubsub(ignore_subscribe_messages=True)  # no I/O yet
        try:
            self._conn.call(lambda r: pubsub.subscribe(self.channel))
            while (left := self._try()) > 0.0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out()
                wait = min(left, self._poll, remaining)
                self._conn.call(functools.partial(_next_message, pubsub, wait), count=False)
            return self
        finally:
            pubsub.close()

    def __exit__(self, *exc: object) -> None:
        self._stop_watchdog_thread()
        self._forget_fence()
        try:
            self._conn.call(self._release)
        except StoreError as error:  # the work is done; the lease expires by itself
            logger.warning("could not release a lease (it expires in its TTL): %s", error.message)

    def _release(self, client: Any) -> Any:
        return client.register_script(RELEASE)(keys=[self.key], args=[self.owner, self.channel])

    # -- async ------------------------------------------------------------------------------

    async def __aenter__(self) -> RedisLease:
        # The same steps as __enter__, each awaited in a worker thread: cancellable between
        # steps, and the fence lands in the caller's context.
        if await self._atry() == 0.0:
            return self
        deadline = time.monotonic() + self._timeout
        pubsub = self._conn.sync.pubsub(ignore_subscribe_messages=True)
        try:
            await self._conn.acall(lambda r: pubsub.subscribe(self.channel))
            while (left := await self._atry()) > 0.0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out()
                wait = min(left, self._poll, remaining)
                await self._conn.acall(functools.partial(_next_message, pubsub, wait), count=False)
            return self
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pubsub.close)

    async def __aexit__(self, *exc: object) -> None:
        # Shielded: a cancelled flow still releases its lease (else the fleet waits a TTL).
        self._stop_watchdog_thread()
        self._forget_fence()
        with anyio.CancelScope(shield=True):
            try:
                await self._conn.acall(self._release)
            except StoreError as error:
                logger.warning("could not release a lease (it expires in its TTL): %s",
                               error.message)  # fmt: skip

    # -- keeping it alive -------------------------------------------------------------------

    def extend(self) -> bool:
        """Push the lease's expiry ``ttl`` ahead, only if this owner still holds it."""
        done = self._conn.call(lambda r: r.register_script(EXTEND)(
            keys=[self.key], args=[self.owner, self.ttl_ms]))  # fmt: skip
        return bool(done)

    def _start_watchdog(self) -> None:
        self._stop.clear()
        self._watchdog = threading.Thread(
            target=self._keep_alive, name=f"zeroauth-lease-{self.fence}", daemon=True
        )
        self._watchdog.start()

    def _keep_alive(self) -> None:
        until = time.monotonic() + self._max_hold
        while not self._stop.wait(self.ttl_ms / 3000.0) and time.monotonic() < until:
            try:
                if not self.extend():
                    return  # lost it (expired and taken): fencing protects the record
            except StoreError:
                continue  # Redis blipped: try again next period

    def _stop_watchdog_thread(self) -> None:
        """Stop extending (not joined: an extend racing the release finds another owner, or
        none, and changes nothing)."""
        self._stop.set()
        self._watchdog = None

    def _forget_fence(self) -> None:
        with _held_guard:
            _held.discard(self.fence or 0)
        fence, fences = self.fence, list(_fences.get())
        if fence in fences:
            fences.remove(fence)
            _fences.set(tuple(fences))
