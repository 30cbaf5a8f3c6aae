"""The bridge's ``BridgeStore`` contract, run against both backends (SQLite file and the real
Redis on loopback): single-use ``take`` (RFC 6749 §10.12: an upstream ``state`` is spent once,
also when replicas race for it), expiry, kinds kept apart, records surviving a reopen; Redis
specifics (TTL from the expiry, keys under the ``{prefix}`` hash tag, sealed upstream tokens
never in clear); and Redis down at a running bridge: ``503 temporarily_unavailable`` naming the
store (RFC 6749 §5.2 / §4.1.2.1), never a 500 (fleet issue: "Redis down ⇒ a clear error").
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.redis_service import TcpProxy
from zeroauth.bridge import (
    AuthorizationBridge,
    BridgeConfig,
    BridgeStore,
    RedisBridgeStore,
    SQLiteBridgeStore,
    Upstream,
)
from zeroauth.bridge._vault import UpstreamVault, keyring_of
from zeroauth.core.errors import StoreUnavailableError
from zeroauth.core.tokens import TokenSet
from zeroauth.devserver import ProtectedResource

KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
RESOURCE = "http://127.0.0.1:9/mcp"


@pytest.fixture(params=["sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BridgeStore]]:
    """Opens a store on one backend; each call is another handle on the same state (a reopen,
    or another replica)."""
    opened: list[Any] = []

    def open_store() -> BridgeStore:
        store: Any
        if request.param == "sqlite":
            store = SQLiteBridgeStore(tmp_path / "bridge.sqlite")
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisBridgeStore(url, prefix=request.getfixturevalue("redis_prefix"))
        opened.append(store)
        return store  # type: ignore[no-any-return]

    yield open_store
    for store in opened:
        store.close()


def test_take_is_single_use_and_kinds_are_separate(opener: Callable[[], BridgeStore]) -> None:
    store = opener()
    store.put("login", "k", {"v": 1}, time.time() + 60)
    assert store.get("consent", "k") is None
    assert store.get("login", "k") == {"v": 1}
    assert store.take("login", "k") == {"v": 1}
    assert store.take("login", "k") is None  # RFC 6749 §10.12: a state is spent once
    assert store.get("login", "k") is None


def test_expired_records_are_gone_and_records_survive_a_reopen(
    opener: Callable[[], BridgeStore],
) -> None:
    store = opener()
    store.put("session", "old", {"subject": "x"}, time.time() - 1)
    store.put("session", "soon", {"subject": "z"}, time.time() + 0.3)
    store.put("session", "new", {"subject": "y"}, time.time() + 60)
    again = opener()
    assert again.get("session", "old") is None
    assert again.take("session", "old") is None
    assert again.get("session", "new") == {"subject": "y"}
    assert again.get("session", "soon") == {"subject": "z"}
    time.sleep(0.4)
    assert again.get("session", "soon") is None  # its expiry is honoured on every backend
    again.delete("session", "new")
    assert store.get("session", "new") is None
    store.put("session", "new", {"subject": "y2"}, time.time() + 60)  # put replaces
    store.put("session", "new", {"subject": "y3"}, time.time() + 60)
    assert again.get("session", "new") == {"subject": "y3"}


def test_of_many_handles_racing_to_take_one_state_exactly_one_wins(
    opener: Callable[[], BridgeStore],
) -> None:
    """Two replicas receiving the same upstream callback: one login, never two (AS-05)."""
    handles = [opener() for _ in range(8)]
    for round_ in range(5):
        handles[0].put("login", f"s{round_}", {"n": round_}, time.time() + 60)
        barrier = threading.Barrier(len(handles))
        won: list[Any] = []

        def take(
            store: BridgeStore, name: str = f"s{round_}", barrier: Any = barrier, won: Any = won
        ) -> None:
            barrier.wait()
            found = store.take("login", name)
            if found is not None:
                won.append(found)

        threads = [threading.Thread(target=take, args=(h,)) for h in handles]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert won == [{"n": round_}]


def test_claim_is_a_lease_one_owner_at_a_time_released_only_by_it(
    opener: Callable[[], BridgeStore],
) -> None:
    """The lease under which one replica refreshes a user's upstream tokens (OAuth 2.1 §4.3.1:
    a rotated refresh token must be spent once): 8 replicas claim at once, exactly one holds
    it; another owner's release leaves it; an expired lease can be claimed again."""
    handles = [opener() for _ in range(8)]
    barrier = threading.Barrier(len(handles))
    won: list[str] = []

    def claim(store: BridgeStore, owner: str) -> None:
        barrier.wait()
        if store.claim("refresh", "user", owner, time.time() + 60):
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(h, f"o{i}")) for i, h in enumerate(handles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    other = next(f"o{i}" for i in range(8) if f"o{i}" != won[0])
    handles[1].release("refresh", "user", other)  # not the holder: nothing happens
    assert not handles[2].claim("refresh", "user", other, time.time() + 60)
    handles[3].release("refresh", "user", won[0])
    assert handles[4].claim("refresh", "user", "next", time.time() + 0.2)
    time.sleep(0.3)  # the holder died: its lease expires
    assert handles[5].claim("refresh", "user", "after", time.time() + 60)


def test_redis_records_expire_with_the_record_and_live_under_the_hash_tag(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisBridgeStore(redis_url, prefix=redis_prefix)
    raw = redis.Redis.from_url(redis_url)
    try:
        store.put("consent", "c1", {"at": 1}, time.time() + 120)
        keys = [k.decode() for k in raw.keys(f"{{{redis_prefix}}}:*")]
        assert keys == [f"{{{redis_prefix}}}:bridge:consent:c1"]
        assert 115_000 < raw.pttl(keys[0]) <= 120_000  # the TTL is the record's expiry
        # the user's upstream tokens are sealed before they reach the store (AES-256-GCM)
        vault = UpstreamVault(store, keyring_of(KEY), upstream=None)  # type: ignore[arg-type]
        secret = "upstream-access-" + secrets.token_urlsafe(16)
        vault.save("idp#alice", TokenSet(access_token=secret, expires_at=time.time() + 600))
        dumped = b"".join(raw.get(k) or b"" for k in raw.keys(f"{{{redis_prefix}}}:*"))
        assert secret.encode() not in dumped
        loaded = vault.load("idp#alice")
        assert loaded is not None
        assert loaded.access_token == secret
    finally:
        raw.close()
        store.close()


def test_redis_store_refuses_a_prefix_with_braces_and_names_the_url_when_down() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisBridgeStore("redis://127.0.0.1:6379/0", prefix="a{b}")
    store = RedisBridgeStore("redis://user:pw-secret@127.0.0.1:1/0", prefix="p")
    with pytest.raises(StoreUnavailableError) as caught:
        store.get("login", "x")
    assert "127.0.0.1:1" in str(caught.value)
    assert "pw-secret" not in str(caught.value)  # A16: no secret in a message


@pytest.mark.anyio
async def test_redis_down_at_a_running_bridge_is_503_temporarily_unavailable(
    redis_url: str, redis_prefix: str, anyio_backend: str
) -> None:
    """Fleet issue "Redis down ⇒ a clear error naming the URL": the token endpoint and the
    upstream callback answer 503 ``temporarily_unavailable`` naming the store; nothing is
    issued and nothing crashes."""
    proxy = TcpProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    config = BridgeConfig(
        issuer="http://127.0.0.1:9/bridge",
        resources=(ProtectedResource(RESOURCE, ("notes:read",)),),
        upstream=Upstream(issuer="http://127.0.0.1:9/idp", client_id="b", client_secret="s"),
        encryption_key=KEY,
        redis_url=proxy.url(),
        redis_prefix=redis_prefix,
    )
    bridge = AuthorizationBridge(config)
    async with serve_asgi_async(bridge.app()) as served, httpx2.AsyncClient(timeout=10) as http:
        jwks = await http.get(served.url("/bridge/jwks"))
        assert jwks.status_code == 200  # up: the signing key came from Redis
        proxy.cut()
        token = await http.post(
            served.url("/bridge/token"),
            data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "c"},
        )
        callback = await http.get(served.url("/bridge/callback?state=s&code=c"))
    for answer in (token, callback):
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["error"] == "temporarily_unavailable"
        assert f"127.0.0.1:{proxy.port}" in body["error_description"]
        assert answer.headers["retry-after"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
