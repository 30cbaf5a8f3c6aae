"""``RedisBridgeStore``: the bridge's own records (``BridgeStore``) on Redis or Valkey, shared by
bridge replicas.

One command per operation: ``put`` is ``SET … PXAT`` (the record's absolute expiry is its TTL),
``get`` is ``GET``, ``take`` is ``GETDEL`` (Redis ≥ 6.2: read and delete in one atomic step, so
an upstream ``state`` is single use across replicas, RFC 6749 §10.12) and ``delete`` is ``DEL``.
Keys are ``{<prefix>}:bridge:<kind>:<key>`` (the hash tag keeps them in one cluster slot with
the core's records); record keys are digests or internal names, never a secret in clear, and
the records holding secrets (the user's upstream tokens) arrive sealed (``UpstreamVault``).
A Redis failure is a ``StoreUnavailableError`` naming the URL (password redacted), which the
bridge answers with ``503 temporarily_unavailable``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from zeroauth.client._redis_conn import RedisConnection, checked_prefix

__all__ = ["RedisBridgeStore"]

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""  # delete by the owner only, atomically


class RedisBridgeStore:
    """``BridgeStore`` on Redis: ``RedisBridgeStore(url, prefix=...)`` (``rediss://`` and ACL
    ``user:password@`` as for ``RedisTokenStore``) or ``client=`` a ``redis.Redis``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "zeroauth-bridge",
        **redis_options: Any,
    ) -> None:
        checked_prefix(prefix)
        self.prefix = prefix
        self.conn = RedisConnection(url, dict(redis_options), client)
        self._tag = f"{{{prefix}}}"

    def __repr__(self) -> str:
        return f"RedisBridgeStore({self.conn.where!r}, prefix={self.prefix!r})"

    def _key(self, kind: str, key: str) -> str:
        return f"{self._tag}:bridge:{kind}:{key}"

    def close(self) -> None:
        self.conn.close()

    def put(self, kind: str, key: str, value: dict[str, Any], expires: float) -> None:
        name, data = self._key(kind, key), json.dumps(value)
        at = int(expires * 1000)
        if at <= int(time.time() * 1000):  # already expired: nothing to keep
            self.conn.call(lambda r: r.delete(name))
            return
        self.conn.call(lambda r: r.set(name, data, pxat=at))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        name = self._key(kind, key)
        return _record(self.conn.call(lambda r: r.get(name)))

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        name = self._key(kind, key)
        return _record(self.conn.call(lambda r: r.getdel(name)))

    def delete(self, kind: str, key: str) -> None:
        name = self._key(kind, key)
        self.conn.call(lambda r: r.delete(name))

    def claim(self, kind: str, key: str, owner: str, expires: float) -> bool:
        name, data = self._key(kind, key), json.dumps({"owner": owner})
        at = max(int(expires * 1000), int(time.time() * 1000) + 1)
        return bool(self.conn.call(lambda r: r.set(name, data, nx=True, pxat=at)))

    def release(self, kind: str, key: str, owner: str) -> None:
        name, data = self._key(kind, key), json.dumps({"owner": owner})
        self.conn.call(lambda r: r.eval(_RELEASE, 1, name, data))


def _record(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None
