"""Signing keys rotate with overlap in the JWKS (bridge issue: "Signing keys rotate with overlap
in the JWKS"; fleet issue: "one active key shared by all replicas (stored encrypted), JWKS served
identically by each"), on both stores (SQLite file, the real Redis on loopback), with an
injectable clock:

- a new key is announced in the JWKS before it signs (RFC 7517 §5 key set; RFC 9068 §4:
  resource servers pick the key by ``kid``), tokens signed by the old key keep verifying while
  they may be live, then the old key leaves the JWKS;
- replicas rotating at the same moment produce ONE new key (one per generation in the store);
- the bridge's keys are sealed at rest (AES-256-GCM under its ``encryption_key``) and its
  in-process verifier follows the rotation.
"""

from __future__ import annotations

import base64
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from tests.helpers.asgi_server import serve_asgi_async
from zeroauth.bridge import AuthorizationBridge, BridgeConfig, Upstream
from zeroauth.client import Keyring
from zeroauth.core.errors import StoreKeyError
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.devserver._keys import RETAIN_MARGIN, SigningKey
from zeroauth.devserver._store import DevStore, SqliteDevStore
from zeroauth.devserver._store_redis import RedisDevStore
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier

ISSUER = "https://as.example"
RESOURCE = "https://mcp.example/mcp"
ROTATION, RETAIN = 100.0, 50.0  # lead (announcement ahead) = ROTATION / 4 = 25 s
T0 = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], DevStore]]:
    """Another handle on the same store at each call: a replica (or a restart)."""
    opened: list[DevStore] = []
    keyring = Keyring.parse(Keyring.generate("k1"))

    def open_store() -> DevStore:
        store: DevStore
        if request.param == "sqlite":
            store = SqliteDevStore(tmp_path / "as.sqlite", keyring=keyring)
        else:
            url, prefix = (
                request.getfixturevalue("redis_url"),
                request.getfixturevalue("redis_prefix"),
            )
            store = RedisDevStore(url, prefix=prefix, keys=keyring)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def mint(key: SigningKey, clock: Clock) -> str:
    return key.mint_access_token(issuer=ISSUER, subject="alice", client_id="c",
                                 audience=RESOURCE, scopes=["s"], lifetime=40,
                                 now=clock.now)  # fmt: skip


def kids(jwks: dict[str, Any]) -> list[str]:
    return [k["kid"] for k in jwks["keys"]]


async def verifies(jwks: dict[str, Any], token: str, clock: Clock) -> bool:
    """A resource server's check with exactly this JWKS (RFC 9068 §4: key by ``kid``)."""
    cache = JWKSCache.static(jwks)
    verifier = JWTVerifier(issuer=ISSUER, resource=RESOURCE, jwks=cache, algorithms=("ES256",),
                           clock=clock)  # fmt: skip
    try:
        await verifier.verify(token)
    except Exception:
        return False
    return True


@pytest.mark.anyio
async def test_old_key_verifies_during_the_overlap_then_leaves_the_jwks(
    opener: Callable[[], DevStore], anyio_backend: str
) -> None:
    clock = Clock()
    key = SigningKey(opener(), rotation=ROTATION, retain=RETAIN, clock=clock)
    first = key.kid
    old_token = mint(key, clock)
    assert kids(key.jwks()) == [first]
    # announced ahead: the successor is in the JWKS 25 s before it signs
    clock.now = T0 + 80
    announced = kids(key.jwks())
    assert len(announced) == 2
    assert announced[0] == first
    assert jwt.get_unverified_header(mint(key, clock))["kid"] == first
    # rotation: the new key signs, the old one stays published for its tokens
    clock.now = T0 + 100
    second = key.kid
    assert second == announced[1] != first
    new_token = mint(key, clock)
    assert jwt.get_unverified_header(new_token)["kid"] == second
    clock.now = T0 + 110
    jwks = key.jwks()
    assert kids(jwks) == [first, second]
    clock_for_rs = Clock()
    clock_for_rs.now = T0 + 30  # the old token is still within its 40 s lifetime
    assert await verifies(jwks, old_token, clock_for_rs)
    assert key.verified_claims(old_token) is not None  # introspection/revocation (RFC 7662)
    # every token of the old key expired (its successor signed for RETAIN): it is dropped
    clock.now = T0 + 100 + RETAIN
    assert kids(key.jwks()) == [second]
    assert key.verified_claims(old_token) is None
    assert not await verifies(key.jwks(), old_token, clock_for_rs)
    assert key.verified_claims(new_token) is not None
    # a restart (or another replica) reads the same set
    again = SigningKey(opener(), rotation=ROTATION, retain=RETAIN, clock=clock)
    assert again.kid == second
    assert again.jwks() == key.jwks()


class Jittery:
    """A store handle whose writes of a new key land at scattered moments (up to 20 ms late),
    so that replicas' writes and read-backs interleave: a store that let a later key replace
    an earlier one would leave replicas signing with different keys."""

    def __init__(self, store: DevStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add_rotation_key(self, alg: str, key: Any) -> bool:
        time.sleep(random.uniform(0, 0.02))
        return self._store.add_rotation_key(alg, key)


def test_replicas_rotating_at_once_produce_one_active_key(
    opener: Callable[[], DevStore],
) -> None:
    """Fleet issue: one active key shared by all replicas. Eight replicas (own store handles)
    cross the rotation point at the same instant: one successor is stored, all sign with it."""
    clock = Clock()
    replicas = [SigningKey(Jittery(opener()), rotation=ROTATION, retain=RETAIN, clock=clock)
                for _ in range(8)]  # fmt: skip
    assert len({r.kid for r in replicas}) == 1
    for step in (1, 2, 3):
        clock.now = T0 + ROTATION * step - ROTATION / 4  # the successor is due: announce it
        barrier = threading.Barrier(len(replicas))
        seen: list[list[str]] = []

        def sync(replica: SigningKey, barrier: Any = barrier, seen: Any = seen) -> None:
            barrier.wait()
            seen.append(kids(replica.jwks()))

        threads = [threading.Thread(target=sync, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(s == seen[0] for s in seen), seen  # JWKS identical on every replica
        clock.now = T0 + ROTATION * step
        assert len({r.kid for r in replicas}) == 1
        assert replicas[0].kid == seen[0][-1]
        stored = opener().signing_keys("ES256")
        assert seen[0] == [k.kid for k in stored]  # what every replica publishes is stored
        generations = [k.generation for k in stored]
        assert generations[-1] == step  # exactly one key per generation
        assert len(seen[0]) == 2  # the active key and its predecessor (within RETAIN)


def test_a_key_of_the_store_before_rotation_existed_is_kept(tmp_path: Path) -> None:
    """A database written by an earlier version keeps its key (and ``kid``) on upgrade; with an
    encryption key the clear copy is replaced by the sealed one."""
    store = SqliteDevStore(":memory:")
    pem = SigningKey(SqliteDevStore(":memory:"))._sync().record.pem
    store.add_signing_key("legacy-kid", "ES256", pem)
    assert SigningKey(store).kid == "legacy-kid"
    assert SigningKey(store, rotation=ROTATION).kid == "legacy-kid"
    path = tmp_path / "old.sqlite"
    old = SqliteDevStore(path)
    old.add_signing_key("legacy-kid", "ES256", pem)
    old.close()
    sealed = SqliteDevStore(path, keyring=Keyring.parse(Keyring.generate("k1")))
    assert SigningKey(sealed).kid == "legacy-kid"
    sealed.close()
    assert b"PRIVATE KEY" not in path.read_bytes()


def test_rotation_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        SigningKey(SqliteDevStore(), rotation=0)
    with pytest.raises(ValueError, match="key_rotation_days"):
        DevServerConfig(issuer=ISSUER, key_rotation_days=-1)


def _bridge(tmp_path: Path, key: str, clock: Clock | None = None) -> AuthorizationBridge:
    config = BridgeConfig(
        issuer="https://bridge.example",
        resources=(ProtectedResource(RESOURCE, ("s",)),),
        upstream=Upstream(issuer="https://idp.example", client_id="b", client_secret="x"),
        database=tmp_path / "bridge.sqlite",
        encryption_key=key,
        access_token_lifetime=600,
        key_rotation_days=30,
    )
    return AuthorizationBridge(config, clock=clock or Clock())


@pytest.mark.anyio
async def test_bridge_keys_are_sealed_in_sqlite_and_its_verifier_follows_rotation(
    tmp_path: Path, anyio_backend: str
) -> None:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    clock = Clock()
    bridge = _bridge(tmp_path, key, clock)
    assert bridge.core.key.rotation == 30 * 86400  # on by default for the bridge
    verifier = bridge.verifier(RESOURCE)
    token = bridge.core.key.mint_access_token(
        issuer="https://bridge.example", subject="u", client_id="c", audience=RESOURCE,
        scopes=["s"], lifetime=600, now=clock.now)  # fmt: skip
    db = sqlite3.connect(tmp_path / "bridge.sqlite")
    stored = [row[0] for row in db.execute("SELECT pem FROM signing_keys")]
    db.close()
    assert stored
    assert all("PRIVATE KEY" not in pem for pem in stored)
    # 30 days later the bridge signs with a new key; the in-process verifier knows it at once
    clock.now = T0 + 30 * 86400
    newer = bridge.core.key.mint_access_token(
        issuer="https://bridge.example", subject="u", client_id="c", audience=RESOURCE,
        scopes=["s"], lifetime=600, now=clock.now)  # fmt: skip
    assert jwt.get_unverified_header(newer)["kid"] != jwt.get_unverified_header(token)["kid"]
    assert (await _verify(verifier, newer, clock)).subject == "u"
    assert len(bridge.core.key.jwks()["keys"]) == 2
    # another encryption key cannot open the stored keys
    with pytest.raises(StoreKeyError):
        _bridge(tmp_path, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())


async def _verify(verifier: JWTVerifier, token: str, clock: Clock) -> Any:
    verifier._clock = clock  # type: ignore[attr-defined]
    return await verifier.verify(token)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_two_served_replicas_publish_the_same_jwks_through_a_rotation(
    redis_url: str, redis_prefix: str, anyio_backend: str
) -> None:
    """The JWKS endpoint (RFC 7517) of two dev AS replicas on one Redis prefix, read over HTTP:
    identical before, during (old and new key) and after the overlap (new key only)."""
    clock = Clock()
    config = DevServerConfig(issuer="http://127.0.0.1:9", redis_url=redis_url,
                             redis_prefix=redis_prefix, redis_keys=Keyring.generate("k1"),
                             key_rotation_days=1, access_token_lifetime=600)  # fmt: skip
    servers = [DevAuthorizationServer(config, clock=clock) for _ in range(2)]
    async with (
        serve_asgi_async(servers[0].app()) as a,
        serve_asgi_async(servers[1].app()) as b,
        httpx2.AsyncClient(timeout=10) as http,
    ):

        async def published() -> list[str]:
            sets = [(await http.get(s.url("/jwks"))).json() for s in (a, b)]
            assert sets[0] == sets[1]
            return kids(sets[0])

        first = await published()
        assert len(first) == 1
        clock.now = T0 + 86400  # the successor signs from now on
        during = await published()
        assert during[0] == first[0]
        assert len(during) == 2
        assert {s.key.kid for s in servers} == {during[1]}
        clock.now = T0 + 86400 + 600 + RETAIN_MARGIN  # every token of the old key expired
        assert await published() == [during[1]]
    for server in servers:
        server.store.close()
