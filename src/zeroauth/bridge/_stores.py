"""Where the bridge keeps its state: one SQLite file (the default) or Redis shared by replicas.

Both the authorization-server core's store (``DevStore``: clients, codes, refresh families,
access tokens by ``jti``, signing keys) and the bridge's own (``BridgeStore``: pending upstream
logins, browser sessions, consents, sealed upstream tokens) go to the same place. The signing
keys are sealed at rest with AES-256-GCM either way (NIST SP 800-38D): under the bridge's
``encryption_key`` in SQLite, under ``redis_keys`` (default: the same key) in Redis.
``LiveJWKS`` is the in-process verifier's view of the rotating key set (RFC 7517 §5).
"""

from __future__ import annotations

import json
from typing import Any

from zeroauth.bridge._config import BridgeConfig
from zeroauth.bridge._store import BridgeStore, SQLiteBridgeStore
from zeroauth.bridge._store_redis import RedisBridgeStore
from zeroauth.client._keyring import Keyring
from zeroauth.devserver._keys import SigningKey
from zeroauth.devserver._store import DevStore, SqliteDevStore
from zeroauth.devserver._store_redis import RedisDevStore
from zeroauth.server._jwks import JWKSCache, parse_jwks

__all__ = ["LiveJWKS", "open_stores"]


def open_stores(config: BridgeConfig) -> tuple[BridgeStore, DevStore]:
    """The bridge's store and its core's, both on ``redis_url`` when set, else on ``database``."""
    if config.redis_url:
        keys = config.redis_keyring()
        bridge = RedisBridgeStore(config.redis_url, prefix=config.redis_prefix)
        core = RedisDevStore(config.redis_url, prefix=config.redis_prefix, keys=keys)
        return bridge, core
    assert config.encryption_key is not None  # BridgeConfig requires it
    spec = config.encryption_key
    keyring = Keyring.parse(spec if ":" in spec else {"k1": spec})
    return SQLiteBridgeStore(config.database), SqliteDevStore(config.database, keyring=keyring)


class LiveJWKS(JWKSCache):
    """A ``JWKSCache`` that reads the rotating key set in process (never fetched): a key the
    bridge starts signing with is known to its in-process verifier at once."""

    def __init__(self, key: SigningKey, *, name: str = "the bridge's keys") -> None:
        super().__init__("static:" + name)
        self._signing = key
        self._kids: tuple[str, ...] = ()
        self._expires_at = float("inf")
        self._current()

    def _current(self) -> None:
        jwks = self._signing.jwks()
        kids = tuple(str(k["kid"]) for k in jwks["keys"])
        if kids != self._kids:
            self._install(parse_jwks(json.dumps(jwks).encode(), where=self.jwks_uri))
            self._kids = kids

    def peek(self, kid: str | None, alg: str) -> Any:
        self._current()
        return super().peek(kid, alg)

    async def key(self, kid: str | None, alg: str) -> Any:
        self._current()
        return await super().key(kid, alg)
