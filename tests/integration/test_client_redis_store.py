"""RedisTokenStore against the real Redis on loopback: encryption at rest and key rotation
(A16), the lease (owner-only release, pub/sub wake, expiry of a dead holder), fencing (a
stale lease holder never overwrites a newer token: A12, C-48), Redis down (typed error naming
the URL, password redacted; warm calls keep working) and the skip-or-fail rule for tests.

The store contract shared with the file store is in test_client_stores.py and
test_client_store_keys.py (parametrized over both); fleets against the real AS are in
test_client_redis_fleet.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import redis

from tests.helpers.client_world import PING, world
from tests.helpers.docs import named_examples, run_example
from tests.helpers.redis_service import TcpProxy, closed_loopback_port, verdict
from zeroauth.client import Keyring, RedisTokenStore
from zeroauth.client._keyring import ENV_KEYS
from zeroauth.core.errors import StaleWriteError, StoreKeyError, StoreUnavailableError

SECRET = "rt-THIS-TOKEN-MUST-NEVER-BE-STORED-IN-CLEAR"
KEY = "https://as.example https://mcp.example/mcp"
REPO = Path(__file__).resolve().parents[2]


def make(url: str, prefix: str, keys: Any = None, **options: Any) -> RedisTokenStore:
    return RedisTokenStore.from_url(url, prefix=prefix, keys=keys or OLD, **options)


OLD = Keyring.generate("old")
NEW = Keyring.generate("new")


def raw(url: str, store: RedisTokenStore, kind: str, key: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(url)
    try:
        value: dict[bytes, bytes] = client.hgetall(store.redis_key(kind, key))
        return value
    finally:
        client.close()


# -- encryption at rest (A16) ---------------------------------------------------------------


def test_a16_ciphertext_in_redis_holds_no_token_or_url(redis_url: str, redis_prefix: str) -> None:
    store = make(redis_url, redis_prefix)
    store.save("tokens", KEY, {"access_token": SECRET, "refresh_token": SECRET + "-r"})
    stored = raw(redis_url, store, "tokens", KEY)
    assert set(stored) == {b"f", b"d"}
    assert stored[b"d"].startswith(b"za1.old.")
    assert SECRET.encode() not in stored[b"d"]
    assert b"example" not in stored[b"d"]
    assert "example" not in store.redis_key("tokens", KEY)  # no URL in a key name
    assert store.redis_key("tokens", KEY).startswith("{" + redis_prefix + "}:")  # one slot
    secret_key = OLD.split(":", 1)[1]
    assert secret_key not in repr(store)
    assert secret_key not in repr(store.keyring)
    assert store.load("tokens", KEY) == {"access_token": SECRET, "refresh_token": SECRET + "-r"}


def test_a16_rotation_old_key_reads_new_key_writes(redis_url: str, redis_prefix: str) -> None:
    make(redis_url, redis_prefix, OLD).save("tokens", KEY, {"access_token": "v1"})
    rotated = make(redis_url, redis_prefix, f"{NEW},{OLD}")  # new active, old kept for reads
    assert rotated.load("tokens", KEY) == {"access_token": "v1"}
    rotated.save("tokens", KEY, {"access_token": "v2"})  # a rewrite moves it to the new key
    assert raw(redis_url, rotated, "tokens", KEY)[b"d"].startswith(b"za1.new.")
    assert make(redis_url, redis_prefix, NEW).load("tokens", KEY) == {"access_token": "v2"}


def test_a16_missing_or_wrong_key_is_a_clear_error_never_a_silent_miss(
    redis_url: str, redis_prefix: str
) -> None:
    make(redis_url, redis_prefix, OLD).save("tokens", KEY, {"access_token": SECRET})
    with pytest.raises(StoreKeyError, match="key id that is not configured") as missing:
        make(redis_url, redis_prefix, NEW).load("tokens", KEY)
    assert "old" in str(missing.value)
    impostor = Keyring.generate("old")  # same id, another key
    with pytest.raises(StoreKeyError, match="does not decrypt") as wrong:
        make(redis_url, redis_prefix, impostor).load("tokens", KEY)
    for text in (str(missing.value), str(wrong.value)):
        assert SECRET not in text
        assert OLD.split(":", 1)[1] not in text
    # keys() skips what it cannot read instead of failing the listing
    assert make(redis_url, redis_prefix, NEW).keys("tokens") == []


def test_a16_a_record_copied_under_another_key_does_not_decrypt(
    redis_url: str, redis_prefix: str
) -> None:
    store = make(redis_url, redis_prefix)
    store.save("tokens", KEY, {"access_token": SECRET})
    client = redis.Redis.from_url(redis_url)
    try:
        blob = client.hget(store.redis_key("tokens", KEY), "d")
        client.hset(store.redis_key("tokens", "https://as.example other"), "d", blob)
    finally:
        client.close()
    with pytest.raises(StoreKeyError):
        store.load("tokens", "https://as.example other")


def test_a16_no_key_configured_fails_at_construction(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEYS, raising=False)
    with pytest.raises(StoreKeyError, match="no encryption key"):
        RedisTokenStore.from_url(redis_url, prefix=redis_prefix)
    monkeypatch.setenv(ENV_KEYS, OLD)
    assert RedisTokenStore.from_url(redis_url, prefix=redis_prefix).keyring.active == "old"
    with pytest.raises(StoreKeyError, match="32 bytes"):
        Keyring.parse("short:AAAA")


def test_binding_records_expire_tokens_do_not(redis_url: str, redis_prefix: str) -> None:
    store = make(redis_url, redis_prefix, ttl={"binding": 60.0})
    store.save("binding", "https://mcp.example/mcp", {"issuer": "https://as.example"})
    store.save("tokens", KEY, {"access_token": "t"})
    client = redis.Redis.from_url(redis_url)
    try:
        assert 0 < client.pttl(store.redis_key("binding", "https://mcp.example/mcp")) <= 60_000
        assert client.pttl(store.redis_key("tokens", KEY)) == -1
    finally:
        client.close()


# -- the lease (A12 across hosts) -----------------------------------------------------------


def test_a12_lease_is_released_and_extended_by_its_owner_only(
    redis_url: str, redis_prefix: str
) -> None:
    store = make(redis_url, redis_prefix, lease_ttl=5.0)
    first = store.lock("tokens x")
    first.__enter__()
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(first.key)  # the first holder's lease expired (it stalled)
        with store.lock("tokens x") as second:
            assert second.fence is not None
            assert first.fence is not None
            assert second.fence > first.fence
            assert first.extend() is False  # cannot extend someone else's lease
            first.__exit__(None, None, None)  # cannot release it either
            assert client.get(second.key) == second.owner.encode()
        assert client.get(second.key) is None  # its owner released it
    finally:
        client.close()


def test_a12_waiter_is_woken_by_the_release_not_by_polling(
    redis_url: str, redis_prefix: str
) -> None:
    holder = make(redis_url, redis_prefix, lease_ttl=30.0)
    waiter = make(redis_url, redis_prefix, lease_ttl=30.0, wake_poll=20.0)  # no early poll
    held = threading.Event()

    def hold() -> None:
        with holder.lock("tokens x"):
            held.set()
            time.sleep(0.3)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    start = time.monotonic()
    with waiter.lock("tokens x"):
        waited = time.monotonic() - start
    thread.join()
    assert 0.1 < waited < 2.0, waited  # woken by the release message, not the 20 s poll
    assert waiter.round_trips == 5  # try, subscribe, retry, try after the wake-up, release


@pytest.mark.anyio
@pytest.mark.all_backends
async def test_async_records_roundtrip_fenced_under_an_async_lease(
    redis_url: str, redis_prefix: str
) -> None:
    store = make(redis_url, redis_prefix)
    assert await store.aload("tokens", KEY) is None
    async with store.lock(f"tokens {KEY}") as lease:
        await store.asave("tokens", KEY, {"access_token": "a1"})
    assert raw(redis_url, store, "tokens", KEY)[b"f"] == str(lease.fence).encode()
    assert await store.aload("tokens", KEY) == {"access_token": "a1"}
    await store.adelete("tokens", KEY)
    assert await store.aload("tokens", KEY) is None
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.all_backends
async def test_a12_async_waiter_is_woken_and_loop_keeps_running(
    redis_url: str, redis_prefix: str
) -> None:
    holder = make(redis_url, redis_prefix, lease_ttl=30.0)
    waiter = make(redis_url, redis_prefix, lease_ttl=30.0, wake_poll=20.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    lease = holder.lock("tokens x")
    lease.__enter__()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        threading.Timer(0.3, lambda: lease.__exit__(None, None, None)).start()
        start = time.monotonic()
        async with waiter.lock("tokens x"):
            waited = time.monotonic() - start
        tg.cancel_scope.cancel()
    assert 0.2 < waited < 2.0, waited
    assert ticks >= 10


@pytest.mark.anyio
@pytest.mark.all_backends
async def test_a12_a_cancelled_holder_still_releases_its_lease(
    redis_url: str, redis_prefix: str
) -> None:
    """A request cancelled mid-refresh (timeout, shutdown) must not leave the fleet waiting
    for the lease's TTL (or its watchdog keeping it alive)."""
    store = make(redis_url, redis_prefix, lease_ttl=30.0)
    with anyio.move_on_after(0.2):
        async with store.lock("tokens x") as lease:
            await anyio.sleep(5)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(lease.key) == 0
    finally:
        client.close()
    start = time.monotonic()
    with make(redis_url, redis_prefix).lock("tokens x"):
        assert time.monotonic() - start < 1.0


def test_a12_a_dead_holder_s_lease_expires_and_the_waiter_takes_it(
    redis_url: str, redis_prefix: str
) -> None:
    """kill -9 of the holder: nothing is published, its lease expires after its TTL."""
    code = (
        "import os, sys\n"
        "from zeroauth.client import RedisTokenStore\n"
        "s = RedisTokenStore.from_url(sys.argv[1], prefix=sys.argv[2], keys=sys.argv[3],"
        " lease_ttl=1.0)\n"
        "s.lock('tokens x').__enter__()\n"
        "print('held', flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, redis_url, redis_prefix, OLD],
        capture_output=True, text=True, timeout=30, check=False, env=_env(),
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr
    assert "held" in proc.stdout
    start = time.monotonic()
    with make(redis_url, redis_prefix, wake_poll=5.0).lock("tokens x"):
        waited = time.monotonic() - start
    assert waited < 1.5, waited  # slept until the dead lease's TTL, not a poll period


def test_a12_watchdog_keeps_a_long_hold_alive(redis_url: str, redis_prefix: str) -> None:
    store = make(redis_url, redis_prefix, lease_ttl=0.3)
    client = redis.Redis.from_url(redis_url)
    try:
        with store.lock("server x") as lease:
            time.sleep(1.0)  # over three TTLs
            assert client.get(lease.key) == lease.owner.encode()
    finally:
        client.close()


# -- fencing (A12, C-48) --------------------------------------------------------------------


def test_a12_fencing_a_stale_holder_never_overwrites_a_newer_token(
    redis_url: str, redis_prefix: str
) -> None:
    store = make(redis_url, redis_prefix, lease_ttl=5.0)
    store.save("tokens", KEY, {"access_token": "v1", "refresh_token": "r1"})
    stale = store.lock(f"tokens {KEY}")
    stale.__enter__()  # fence n
    client = redis.Redis.from_url(redis_url)
    client.delete(stale.key)  # ... its lease expires while it waits for the AS

    def newer() -> None:  # another process takes the lease and writes (fence n + 1)
        with make(redis_url, redis_prefix).lock(f"tokens {KEY}"):
            make(redis_url, redis_prefix).save("tokens", KEY, {"access_token": "v2"})

    thread = threading.Thread(target=newer)  # its own context: its own fences
    thread.start()
    thread.join()
    try:
        with pytest.raises(StaleWriteError, match="newer record"):
            store.save("tokens", KEY, {"access_token": "v1-late", "refresh_token": "r2"})
        assert store.load("tokens", KEY) == {"access_token": "v2"}
    finally:
        stale.__exit__(None, None, None)
        client.close()
    store.save("tokens", KEY, {"access_token": "v3"})  # outside a lease: the newest write
    assert store.load("tokens", KEY) == {"access_token": "v3"}


def test_a_supplied_client_is_used_and_left_open(redis_url: str, redis_prefix: str) -> None:
    """The way to Sentinel: ``client=Sentinel(...).master_for(name)`` (any redis.Redis)."""
    client = redis.Redis.from_url(redis_url)
    try:
        store = RedisTokenStore(client=client, prefix=redis_prefix, keys=OLD)
        assert "Redis" in repr(store)
        store.save("tokens", KEY, {"access_token": "t"})
        assert make(redis_url, redis_prefix).load("tokens", KEY) == {"access_token": "t"}
        store.close()
        assert client.ping()  # still the caller's to close
        with pytest.raises(ValueError, match="not both"):
            RedisTokenStore(redis_url, client=client, keys=OLD)
    finally:
        client.close()


# -- Redis down -----------------------------------------------------------------------------


def test_unreachable_redis_is_a_typed_error_naming_the_url_without_password() -> None:
    url = f"redis://fleet:hunter2-secret@127.0.0.1:{closed_loopback_port()}/0"
    store = RedisTokenStore.from_url(url, prefix="p", keys=OLD, socket_connect_timeout=0.5)
    assert "hunter2" not in repr(store)
    with pytest.raises(StoreUnavailableError) as caught:
        store.load("tokens", KEY)
    text = str(caught.value)
    assert "redis://fleet:***@127.0.0.1:" in text
    assert "hunter2" not in text
    assert "Hint:" in text
    assert "in memory keep working" in text
    with pytest.raises(StoreUnavailableError):
        store.lock("x").__enter__()


def test_redis_killed_warm_calls_keep_working_refresh_fails_clearly(
    redis_url: str, redis_prefix: str
) -> None:
    proxy = TcpProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    ahead = [0.0]
    store = make(proxy.url(), redis_prefix, socket_connect_timeout=0.5, socket_timeout=1.0)
    with world() as w:
        auth = w.client(store=store, clock=lambda: time.time() + ahead[0])
        with httpx2.Client(auth=auth, timeout=30) as http:
            assert http.post(w.server_url, json=PING).status_code == 200
            trips = store.round_trips
            proxy.cut()  # Redis is gone for this client
            for _ in range(3):
                assert http.post(w.server_url, json=PING).status_code == 200
            assert store.round_trips == trips  # warm calls never touched Redis
            ahead[0] += 3590  # the token is due for refresh: that needs the store
            with pytest.raises(StoreUnavailableError, match="cannot be reached"):
                http.post(w.server_url, json=PING)


# -- skip or fail --------------------------------------------------------------------------


def test_verdict_skips_loudly_or_fails_under_require() -> None:
    assert verdict("down", {})[0] == "skip"
    assert "NEEDS REDIS" in verdict("down", {})[1]
    assert verdict("down", {"ZEROAUTH_REQUIRE_REDIS": "1"}) == (
        "fail",
        "ZEROAUTH_REQUIRE_REDIS=1 but down",
    )


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    return env


@pytest.mark.parametrize(("require", "outcome"), [("0", "1 skipped"), ("1", "1 error")])
def test_without_redis_tests_skip_or_fail_under_require(require: str, outcome: str) -> None:
    node = f"{Path(__file__).relative_to(REPO)}::test_a16_ciphertext_in_redis_holds_no_token_or_url"
    env = _env(
        ZEROAUTH_TEST_REDIS_URL=f"redis://127.0.0.1:{closed_loopback_port()}/0",
        ZEROAUTH_REQUIRE_REDIS=require,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", node, "-q", "-rs", "-p", "no:randomly", "-p",
         "no:cacheprovider"],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=REPO,
    )  # fmt: skip
    assert outcome in proc.stdout, proc.stdout[-2000:]
    assert "unreachable" in proc.stdout


def test_docs_fleet_example_builds_a_shared_encrypted_store(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEYS, OLD)
    example = named_examples("docs/fleet.md")["fleet-store"]
    auth = run_example(example, "docs/fleet.md")["fleet_auth"](redis_url, redis_prefix)
    store = auth.store
    assert isinstance(store, RedisTokenStore)
    store.save("tokens", KEY, {"access_token": SECRET})
    assert make(redis_url, redis_prefix).load("tokens", KEY) == {"access_token": SECRET}


def test_a12_a_lease_released_in_another_context_no_longer_fences_writes(
    redis_url: str, redis_prefix: str
) -> None:
    """The fence a context carries is dropped when its lease is released anywhere (a run
    closed from another task or thread must not leave an old fence on later writes)."""
    store = make(redis_url, redis_prefix)
    lease = store.lock("tokens x")
    lease.__enter__()
    thread = threading.Thread(target=lease.__exit__, args=(None, None, None))
    thread.start()
    thread.join()
    with make(redis_url, redis_prefix).lock("tokens x"):  # a later holder writes (larger fence)
        make(redis_url, redis_prefix).save("tokens", KEY, {"access_token": "newer"})
    store.save("tokens", KEY, {"access_token": "newest"})  # no lease held here any more
    assert store.load("tokens", KEY) == {"access_token": "newest"}
