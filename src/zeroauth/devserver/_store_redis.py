"""``RedisDevStore``: the dev authorization server's state on Redis (or Valkey), shared by replicas.

The same ``DevStore`` semantics as ``SqliteDevStore``, each operation one Redis command or one
Lua script (atomic on the server, whichever replica runs it):

- authorization codes are single use (OAuth 2.1 §4.1.3): ``use_code`` marks the code used and
  returns it as it was in one script, so of two replicas redeeming it at once exactly one sees
  it unused (the other's is a replay: the grant is revoked);
- refresh-token families (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): ``rotate_refresh`` marks and
  returns in one script (reuse is seen by exactly one of two racing replicas);
  ``revoke_grant`` marks the grant revoked and deletes every refresh token of the family in
  one script, and ``add_refresh`` refuses a token for a revoked grant in one script, so a
  rotation racing a revocation cannot leave a live token in a revoked family;
- access tokens by ``jti`` (RFC 7009, RFC 7662) expire an hour after the token;
  codes and refresh tokens an hour after their own expiry (a late replay is still seen);
  a revoked-grant marker lives until its family's refresh tokens would have expired, plus a day;
- the signing keys: one hash per algorithm, a field per rotation generation written with
  ``HSETNX`` (of replicas rotating at once exactly one key per generation is kept, and every
  replica signs with it: JWKS identical on each), each sealed with AES-256-GCM under a
  ``Keyring`` (``zeroauth.client._keyring``: key ids, rotation by adding a key first); the
  single key of earlier versions (``SET NX``) is read once and carried over as generation 0;
- the consent forms' HMAC secret is made once (``SET NX``) and sealed the same way; a submitted
  form is spent with ``SET NX PXAT`` (single use across replicas).

Every key starts with ``{<prefix>}:`` (a hash tag: one cluster slot, so the scripts may touch
several keys). Codes, refresh tokens and client secrets are stored as SHA-256 digests.
Not shared: pending device authorizations (RFC 8628) stay in the replica that issued them.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from zeroauth.client._keyring import Keyring
from zeroauth.client._redis_conn import RedisConnection
from zeroauth.devserver._store import (
    AccessRecord,
    CodeRecord,
    DevStore,
    KeyRecord,
    RefreshRecord,
    SqliteDevStore,
    digest,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from zeroauth.devserver._config import DevServerConfig

__all__ = ["RedisDevStore", "open_store"]

_GRACE_MS = 3600 * 1000  # records stay an hour past their expiry (late replays are seen)

# KEYS[1] record; returns the record's fields as they were, after marking it (ARGV[1] field)
MARK = """
local found = redis.call('hmget', KEYS[1], 'g', 'd', 'e', ARGV[1])
if not found[1] then return false end
redis.call('hset', KEYS[1], ARGV[1], '1')
return found
"""
# KEYS[1] token, KEYS[2] family set, KEYS[3] revoked marker; ARGV: grant, data, expires (ms)
ADD_REFRESH = """
if redis.call('exists', KEYS[3]) == 1 then return 0 end
redis.call('hset', KEYS[1], 'g', ARGV[1], 'd', ARGV[2], 'e', ARGV[3], 'r', '0')
redis.call('pexpireat', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000) + ARGV[4])
redis.call('sadd', KEYS[2], KEYS[1])
local ttl = redis.call('pttl', KEYS[2])
local want = math.floor(tonumber(ARGV[3]) * 1000) + ARGV[4] - tonumber(ARGV[5])
if ttl < want then redis.call('pexpire', KEYS[2], want) end
return 1
"""
# KEYS[1] revoked marker, KEYS[2] family set; ARGV: now (ms), minimum lifetime (ms)
REVOKE = """
local keep = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, key in ipairs(redis.call('smembers', KEYS[2])) do
  local e = tonumber(redis.call('hget', key, 'e') or '0') or 0
  if e * 1000 + tonumber(ARGV[2]) > keep then keep = e * 1000 + tonumber(ARGV[2]) end
  redis.call('del', key)
end
redis.call('del', KEYS[2])
redis.call('set', KEYS[1], ARGV[1], 'PXAT', math.floor(keep))
return 1
"""
REVOKE_ACCESS = """
if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], 'r', '1') end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisDevStore:
    """``DevStore`` on Redis: ``RedisDevStore(url, prefix=..., keys=...)`` (``rediss://`` and ACL
    ``user:password@`` as for ``RedisTokenStore``) or ``client=`` a ``redis.Redis``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "zeroauth-dev",
        keys: str | Mapping[str, str | bytes] | Keyring | None = None,
        **redis_options: Any,
    ) -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError("prefix must be non-empty and contain no '{' or '}'")
        self.prefix = prefix
        self.keyring = Keyring.parse(keys)  # fails early: the signing key is sealed with it
        self.conn = RedisConnection(url, dict(redis_options), client)
        self._tag = f"{{{prefix}}}"

    def __repr__(self) -> str:
        return f"RedisDevStore({self.conn.where!r}, prefix={self.prefix!r})"

    def _key(self, *parts: str) -> str:
        return ":".join((self._tag, *parts))

    def _script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        return self.conn.call(lambda r: r.register_script(source)(keys=keys, args=args))

    def close(self) -> None:
        self.conn.close()

    # -- sealed values (signing key, consent secret) ------------------------------------------
    def _put_once(self, name: str, value: bytes) -> None:
        sealed = self.keyring.seal(value, name.encode())
        self.conn.call(lambda r: r.set(name, sealed, nx=True))

    def _get_sealed(self, name: str) -> bytes | None:
        blob = self.conn.call(lambda r: r.get(name))
        if blob is None:
            return None
        return self.keyring.open(blob, name.encode(), where=f"{self.conn.where} {name}")

    # -- clients -----------------------------------------------------------------------------
    def add_client(
        self, client_id: str, metadata: Mapping[str, Any], secret: str | None = None
    ) -> None:
        record = {"m": dict(metadata), "s": secret and digest(secret), "c": time.time()}
        self.conn.call(lambda r: r.hset(self._key("clients"), client_id, json.dumps(record)))

    def client(self, client_id: str) -> tuple[dict[str, Any], str | None] | None:
        raw = self.conn.call(lambda r: r.hget(self._key("clients"), client_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return record["m"], record["s"]

    def clients(self) -> list[str]:
        found = self.conn.call(lambda r: r.hgetall(self._key("clients")))
        records = sorted((json.loads(v)["c"], _text(k)) for k, v in found.items())
        return [client_id for _, client_id in records]

    # -- signing keys ------------------------------------------------------------------------
    def signing_key(self, alg: str) -> tuple[str, str] | None:
        value = self._get_sealed(self._key("signing-key", alg))
        if value is None:
            return None
        record = json.loads(value)
        return record["kid"], record["pem"]

    def add_signing_key(self, kid: str, alg: str, pem: str) -> None:
        """Kept only if no key for ``alg`` is stored yet: the first replica's key is the one."""
        self._put_once(self._key("signing-key", alg), json.dumps({"kid": kid, "pem": pem}).encode())

    def signing_keys(self, alg: str) -> list[KeyRecord]:
        name = self._key("signing-keys", alg)
        found = self.conn.call(lambda r: r.hgetall(name))
        records = []
        for field, blob in found.items():
            generation = int(_text(field))
            where = f"{self.conn.where} {name} generation {generation}"
            plain = self.keyring.open(blob, f"{name}:{generation}".encode(), where=where)
            value = json.loads(plain)
            records.append(KeyRecord(generation, value["kid"], value["pem"], value["nb"]))
        return sorted(records, key=lambda k: k.generation)

    def add_rotation_key(self, alg: str, key: KeyRecord) -> bool:
        """``HSETNX`` on the generation's field: of replicas rotating at once, one key wins."""
        name = self._key("signing-keys", alg)
        value = json.dumps({"kid": key.kid, "pem": key.pem, "nb": key.not_before}).encode()
        sealed = self.keyring.seal(value, f"{name}:{key.generation}".encode())
        return bool(self.conn.call(lambda r: r.hsetnx(name, str(key.generation), sealed)))

    def drop_rotation_key(self, alg: str, generation: int) -> None:
        name = self._key("signing-keys", alg)
        self.conn.call(lambda r: r.hdel(name, str(generation)))

    # -- authorization codes (single use, OAuth 2.1 §4.1.3) -----------------------------------
    def add_code(self, code: str, grant_id: str, data: Mapping[str, Any], expires: float) -> None:
        name = self._key("code", digest(code))

        def write(r: Any) -> Any:
            pipe = r.pipeline(transaction=True)
            pipe.hset(name, mapping={"g": grant_id, "d": json.dumps(dict(data)),
                                     "e": repr(expires), "u": "0"})  # fmt: skip
            pipe.pexpireat(name, int(expires * 1000) + _GRACE_MS)
            return pipe.execute()

        self.conn.call(write)

    def use_code(self, code: str) -> CodeRecord | None:
        found = self._script(MARK, [self._key("code", digest(code))], ["u"])
        if not found:
            return None
        grant, data, expires, used = found
        return CodeRecord(_text(grant), json.loads(data), float(expires), _text(used) == "1")

    # -- refresh tokens (rotation, family revocation: OAuth 2.1 §4.3.1) -----------------------
    def _refresh_keys(self, token: str, grant_id: str) -> list[str]:
        return [self._key("refresh", digest(token)), self._key("family", grant_id),
                self._key("revoked", grant_id)]  # fmt: skip

    def add_refresh(
        self, token: str, grant_id: str, data: Mapping[str, Any], expires: float
    ) -> None:
        """Stored unless the grant was revoked meanwhile (then the token is simply unknown)."""
        args = [grant_id, json.dumps(dict(data)), repr(expires), _GRACE_MS, int(time.time() * 1000)]
        self._script(ADD_REFRESH, self._refresh_keys(token, grant_id), args)

    @staticmethod
    def _refresh(found: Any) -> RefreshRecord | None:
        if not found or found[0] is None:
            return None
        grant, data, expires, rotated = found
        return RefreshRecord(_text(grant), json.loads(data), float(expires), _text(rotated) == "1")

    def rotate_refresh(self, token: str) -> RefreshRecord | None:
        return self._refresh(self._script(MARK, [self._key("refresh", digest(token))], ["r"]))

    def refresh_record(self, token: str) -> RefreshRecord | None:
        name = self._key("refresh", digest(token))
        return self._refresh(self.conn.call(lambda r: r.hmget(name, "g", "d", "e", "r")))

    def revoke_grant(self, grant_id: str) -> None:
        keys = [self._key("revoked", grant_id), self._key("family", grant_id)]
        self._script(REVOKE, keys, [int(time.time() * 1000), 86400 * 1000])

    def grant_revoked(self, grant_id: str) -> bool:
        return bool(self.conn.call(lambda r: r.exists(self._key("revoked", grant_id))))

    # -- access tokens (RFC 7009, RFC 7662) ----------------------------------------------------
    def add_access(self, jti: str, grant_id: str, client_id: str, expires: float) -> None:
        name = self._key("access", jti)

        def write(r: Any) -> Any:
            pipe = r.pipeline(transaction=True)
            pipe.hset(name, mapping={"g": grant_id, "c": client_id, "e": repr(expires), "r": "0"})
            pipe.pexpireat(name, int(expires * 1000) + _GRACE_MS)
            return pipe.execute()

        self.conn.call(write)

    def access_record(self, jti: str) -> AccessRecord | None:
        name = self._key("access", jti)
        grant, client, expires, revoked = self.conn.call(
            lambda r: r.hmget(name, "g", "c", "e", "r")
        )
        if grant is None:
            return None
        return AccessRecord(_text(grant), _text(client), float(expires), _text(revoked) == "1")

    def revoke_access(self, jti: str) -> None:
        self._script(REVOKE_ACCESS, [self._key("access", jti)], [])

    # -- shared secrets and single-use markers -------------------------------------------------
    def shared_secret(self, name: str) -> bytes:
        key = self._key("secret", name)
        value = self._get_sealed(key)
        if value is None:
            self._put_once(key, secrets.token_bytes(32))
            value = self._get_sealed(key)
        assert value is not None  # written just above, never deleted
        return value

    def spend(self, name: str, expires: float) -> bool:
        key = self._key("spent", digest(name))
        at = max(int(expires * 1000), int(time.time() * 1000) + 1)
        return bool(self.conn.call(lambda r: r.set(key, b"1", nx=True, pxat=at)))


def open_store(config: DevServerConfig) -> DevStore:
    """The store ``config`` names: Redis when ``redis_url`` is set, else SQLite."""
    if config.redis_url:
        return RedisDevStore(config.redis_url, prefix=config.redis_prefix, keys=config.redis_keys)
    return SqliteDevStore(config.database)
