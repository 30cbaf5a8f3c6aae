"""``RedisTokenStore``: one login shared by a fleet of agent processes on many hosts.

MCP authorization 2026-07-28 "Client Registration / Authorization Server Binding" (C-30:
registrations keyed by issuer) and "Refresh Tokens" (C-46 stored securely, C-48 the newest
rotated refresh token always persisted); threats A12 (one refresh across the fleet) and A16
(encrypted at rest, never logged). The same records, keys and semantics as ``FileTokenStore``
(``zeroauth.client._stores``), on Redis or Valkey:

- every Redis key of one store starts with ``{<prefix>}:`` — a hash tag, so a record, its
  lease and the fence counter share one cluster slot and one script may touch them together;
  the rest of the name is ``<kind>:<hash>``: no issuer or URL appears in a key name;
- a record is a hash ``{f: fence, d: sealed JSON}``: ``d`` is AES-256-GCM under the keyring's
  active key (``zeroauth.client._keyring``), bound to its Redis key, and holds the store key
  too (so ``keys(kind)`` lists them);
- a write is a compare-and-set script: refused when the record's fence is larger than the
  writer's (the fence of the newest lease the writing flow holds, ``_redis_lease``), so a
  holder whose lease expired never overwrites what a later holder wrote (``StaleWriteError``);
  a write outside any lease takes a new fence (it is the newest);
- ``binding`` records (discovery results) expire after ``ttl['binding']`` (7 days by default;
  rediscovery is cheap), ``client`` and ``tokens`` records only when deleted;
- ``lock(name)`` is a ``RedisLease``; the driver takes it exactly where it takes the file
  store's ``flock`` (``Engine``: in-process lock first, then the store's);
  ``lock_reading(name, reads)`` also reads records in the acquiring script (a refresh: lease
  and fresh token read in one round trip, then the fenced write, then the release).

``aload`` / ``asave`` / ``adelete`` and ``async with lock`` await the same calls without
blocking the event loop (``_redis_conn``). A process keeps what it read in memory
(``Engine``): a call with a live token sends nothing to Redis.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from zeroauth.client._keyring import Keyring
from zeroauth.client._redis_conn import RedisConnection, checked_prefix
from zeroauth.client._redis_lease import RedisLease, current_fence
from zeroauth.client._stores import _decode, _encode
from zeroauth.core.errors import StaleWriteError, StoreKeyError
from zeroauth.core.flow.steps import RecordKind

__all__ = ["DEFAULT_TTLS", "RedisTokenStore"]

logger = logging.getLogger("zeroauth.client.stores")

DEFAULT_TTLS: Mapping[str, float | None] = {"binding": 7 * 86400.0, "client": None, "tokens": None}

SAVE = """
local fence = tonumber(ARGV[1])
if not fence then fence = redis.call('incr', KEYS[2]) end
local current = tonumber(redis.call('hget', KEYS[1], 'f') or '0')
if current > fence then return {0, current} end
redis.call('hset', KEYS[1], 'f', fence, 'd', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('pexpire', KEYS[1], ttl) else redis.call('persist', KEYS[1]) end
return {1, fence}
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class RedisTokenStore:
    """Tokens, registrations and server bindings in Redis, encrypted, shared by every process
    (and host) configured with the same URL, prefix and keys.

    ``RedisTokenStore(url, ...)`` / ``from_url(url, ...)``, or ``RedisTokenStore(client=...)``
    with a ``redis.Redis`` built elsewhere (``redis.sentinel.Sentinel(...).master_for(name)``
    for Sentinel; the caller closes it)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "zeroauth",
        keys: str | Mapping[str, str | bytes] | Keyring | None = None,
        ttl: Mapping[str, float | None] | None = None,
        lease_ttl: float = 15.0,
        lock_timeout: float = 60.0,
        wake_poll: float = 1.0,
        max_hold: float = 600.0,
        **redis_options: Any,
    ) -> None:
        checked_prefix(prefix)
        self.prefix = prefix
        self.keyring = Keyring.parse(keys)  # fails early, before any record is written
        self.ttl = {**DEFAULT_TTLS, **(ttl or {})}
        self.lease_ttl = lease_ttl
        self.lock_timeout = lock_timeout
        self.wake_poll = wake_poll
        self.max_hold = max_hold
        self.conn = RedisConnection(url, dict(redis_options), client)
        self._tag = f"{{{prefix}}}"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "zeroauth",
        keys: str | Mapping[str, str | bytes] | Keyring | None = None,
        **options: Any,
    ) -> RedisTokenStore:
        """``redis://[user:password@]host:port/db`` or ``rediss://`` (TLS); ``keys`` defaults
        to the ``ZEROAUTH_REDIS_KEYS`` environment variable; other options as ``__init__``
        and ``redis.Redis.from_url``."""
        return cls(url, prefix=prefix, keys=keys, **options)

    def __repr__(self) -> str:
        return f"RedisTokenStore({self.conn.where!r}, prefix={self.prefix!r})"

    @property
    def round_trips(self) -> int:
        """Commands and scripts sent to Redis so far by this store and its leases."""
        return self.conn.round_trips

    # -- names ------------------------------------------------------------------------------

    def redis_key(self, kind: str, key: str) -> str:
        return f"{self._tag}:{kind}:{_digest(kind + chr(0) + key)}"

    @property
    def fence_key(self) -> str:
        return f"{self._tag}:fence"

    # -- sealing ----------------------------------------------------------------------------

    def _seal(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> bytes:
        text = _encode(kind, {"k": key, "r": dict(record)})
        return self.keyring.seal(text.encode(), self.redis_key(kind, key).encode())

    def _open(self, redis_key: str, blob: bytes | None) -> tuple[str, dict[str, Any]] | None:
        if blob is None:
            return None
        text = self.keyring.open(blob, redis_key.encode(), where=f"{self.conn.where} {redis_key}")
        data = _decode(text.decode("utf-8", "replace"))
        key = None if data is None else data.get("k")
        record = None if data is None else data.get("r")
        if not isinstance(key, str) or not isinstance(record, dict):
            logger.warning("ignoring unreadable record %s", redis_key)  # never its content
            return None
        return key, record

    def _loaded(self, kind: str, key: str, blob: bytes | None) -> dict[str, Any] | None:
        opened = self._open(self.redis_key(kind, key), blob)
        if opened is None or opened[0] != key:  # a record not written under this key
            return None
        return opened[1]

    def _save_args(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> dict[str, Any]:
        fence = current_fence()
        ttl = self.ttl.get(kind)
        return {
            "keys": [self.redis_key(kind, key), self.fence_key],
            "args": [
                "" if fence is None else fence,
                self._seal(kind, key, record),
                int(ttl * 1000) if ttl else 0,
            ],
        }

    def _saved(self, kind: str, key: str, result: Any) -> None:
        done, fence = int(result[0]), int(result[1])
        if not done:
            raise StaleWriteError(
                "a newer record was written by a later lease holder; this write was refused",
                requirement="A12", where=f"{self.conn.where} {kind} record",
                expected=f"fence >= {fence}", found=f"fence {current_fence()}",
                hint="this process held the lease too long (its lease expired); the newer "
                "record stays and is used from the next call",
            )  # fmt: skip

    # -- sync -------------------------------------------------------------------------------

    def load(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        blob = self.conn.call(lambda r: r.hget(self.redis_key(kind, key), "d"))
        return self._loaded(kind, key, blob)

    def save(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None:
        args = self._save_args(kind, key, record)
        self._saved(kind, key, self.conn.call(lambda r: r.register_script(SAVE)(**args)))

    def delete(self, kind: RecordKind, key: str) -> None:
        self.conn.call(lambda r: r.delete(self.redis_key(kind, key)))

    def keys(self, kind: RecordKind) -> list[str]:
        """The keys of every readable record of ``kind``, sorted (records that do not decrypt
        with the configured keys are skipped and reported once)."""
        names = self.conn.call(lambda r: list(r.scan_iter(match=f"{self._tag}:{kind}:*")))
        found: set[str] = set()
        for name in names:
            redis_key = name.decode() if isinstance(name, bytes) else str(name)
            blob = self.conn.call(lambda r, k=redis_key: r.hget(k, "d"))  # type: ignore[misc]
            try:
                opened = self._open(redis_key, blob)
            except StoreKeyError as exc:
                logger.warning("skipping a record: %s", exc.message)
                continue
            if opened is not None and self.redis_key(kind, opened[0]) == redis_key:
                found.add(opened[0])
        return sorted(found)

    def lock(self, name: str) -> RedisLease:
        return self.lock_reading(name, ())

    def lock_reading(self, name: str, reads: Sequence[tuple[RecordKind, str]]) -> RedisLease:
        """``lock(name)`` whose acquiring script also reads ``reads`` (the lease's
        ``records``, opened and checked as ``load`` does)."""
        digest = _digest(name)
        return RedisLease(
            self.conn, key=f"{self._tag}:lease:{digest}", fence_key=self.fence_key,
            channel=f"{self._tag}:released:{digest}", ttl=self.lease_ttl,
            timeout=self.lock_timeout, poll=self.wake_poll, max_hold=self.max_hold,
            reads={self.redis_key(kind, key): (kind, key) for kind, key in reads},
            opener=self._loaded,
        )  # fmt: skip

    def close(self) -> None:
        self.conn.close()

    # -- async ------------------------------------------------------------------------------

    async def aload(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        name = self.redis_key(kind, key)
        blob = await self.conn.acall(lambda r: r.hget(name, "d"))
        return self._loaded(kind, key, blob)

    async def asave(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None:
        args = self._save_args(kind, key, record)
        result = await self.conn.acall(lambda r: r.register_script(SAVE)(**args))
        self._saved(kind, key, result)

    async def adelete(self, kind: RecordKind, key: str) -> None:
        name = self.redis_key(kind, key)
        await self.conn.acall(lambda r: r.delete(name))

    async def aclose(self) -> None:
        await self.conn.aclose()
