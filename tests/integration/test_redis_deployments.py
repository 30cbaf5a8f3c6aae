"""The shared stores on Redis Cluster and behind Redis Sentinel (fleet issue: deployment modes),
with real ``redis-server`` processes on loopback (tests/helpers/redis_topologies.py).

Cluster: every key of one store carries the hash tag ``{<prefix>}``, so one store's records,
leases and fence counter share a slot and its scripts (lease + read, fenced write, code use,
family revocation) run on one shard; different prefixes spread over the shards.
Sentinel: the stores take the ``redis.Redis`` that ``Sentinel.master_for`` gives (the current
primary). Threats A12 (lease, fencing), A16 (sealed records), D1/D5 (dev AS single use).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.redis_topologies import redis_cluster, redis_sentinel
from zeroauth.client import Keyring, RedisTokenStore
from zeroauth.core.errors import StaleWriteError
from zeroauth.devserver._store_redis import RedisDevStore

KEYS = Keyring.generate("dep")
TOKENS = {"access_token": "at", "token_type": "Bearer"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as client:
        yield client


@pytest.fixture(scope="module")
def sentinel_primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with redis_sentinel(tmp_path_factory.mktemp("sentinel")) as sentinel:
        primary = sentinel.master_for("zeroauth", socket_timeout=2.0)
        yield primary
        primary.close()


def _exercise_token_store(store: RedisTokenStore) -> None:
    """Records, the lease read together with the record, fencing, a waiter woken by release."""
    store.save("tokens", "k", TOKENS)
    assert store.load("tokens", "k") == TOKENS
    assert store.keys("tokens") == ["k"]
    stale = store.lock("tokens k")
    stale.__enter__()
    store.conn.call(lambda r: r.delete(stale.key))  # its lease expires while it waits

    def newer() -> None:  # another holder (its own context) reads with the lease and writes
        with store.lock_reading("tokens k", [("tokens", "k")]) as lease:
            assert lease.records == {("tokens", "k"): TOKENS}
            store.save("tokens", "k", {**TOKENS, "access_token": "newer"})

    thread = threading.Thread(target=newer)
    thread.start()
    thread.join()
    try:
        with pytest.raises(StaleWriteError):  # the stale holder's write is refused
            store.save("tokens", "k", TOKENS)
    finally:
        stale.__exit__(None, None, None)
    holder = store.lock("tokens k")
    holder.__enter__()
    release = threading.Timer(0.3, holder.__exit__)
    release.start()
    started = time.monotonic()
    with store.lock("tokens k"):
        waited = time.monotonic() - started
    release.join()
    assert 0.25 < waited < store.wake_poll + 0.5  # woken by the release message
    assert store.load("tokens", "k") == {**TOKENS, "access_token": "newer"}


def _exercise_dev_store(store: RedisDevStore) -> None:
    store.add_code("c", "g", {"x": 1}, expires=time.time() + 60)
    first, second = store.use_code("c"), store.use_code("c")
    assert first is not None
    assert second is not None
    assert (first.used, second.used) == (False, True)  # OAuth 2.1 §4.1.3: single use
    store.add_refresh("r", "g", {"x": 1}, expires=time.time() + 600)
    rotated = store.rotate_refresh("r")
    assert rotated is not None
    assert not rotated.rotated
    store.revoke_grant("g")  # the family: marker and tokens in one script
    assert store.grant_revoked("g")
    assert store.refresh_record("r") is None
    store.add_refresh("r2", "g", {"x": 1}, expires=time.time() + 600)
    assert store.refresh_record("r2") is None  # never a live token in a revoked family
    store.add_signing_key("k1", "ES256", "pem-1")
    store.add_signing_key("k2", "ES256", "pem-2")
    assert store.signing_key("ES256") == ("k1", "pem-1")  # the first key stays the one


def test_cluster_token_store_lease_fencing_and_wake_up(cluster: Any) -> None:
    store = RedisTokenStore(client=cluster, prefix="fleet-a", keys=KEYS)
    _exercise_token_store(store)
    names = list(cluster.scan_iter(match="{fleet-a}:*"))
    assert names
    assert {cluster.keyslot(name) for name in names} == {cluster.keyslot("{fleet-a}")}


def test_cluster_prefixes_spread_over_the_shards(cluster: Any) -> None:
    nodes = set()
    for index in range(12):
        prefix = f"tenant-{index}"
        RedisTokenStore(client=cluster, prefix=prefix, keys=KEYS).save("tokens", "k", TOKENS)
        nodes.add(cluster.get_node_from_key(f"{{{prefix}}}").name)
    assert len(nodes) == 3


def test_cluster_dev_as_store_single_use_and_family_revocation(cluster: Any) -> None:
    _exercise_dev_store(RedisDevStore(client=cluster, prefix="dev-as", keys=KEYS))


def test_sentinel_token_store_on_the_current_primary(sentinel_primary: Any) -> None:
    _exercise_token_store(RedisTokenStore(client=sentinel_primary, prefix="fleet-s", keys=KEYS))


def test_sentinel_dev_as_store(sentinel_primary: Any) -> None:
    _exercise_dev_store(RedisDevStore(client=sentinel_primary, prefix="dev-s", keys=KEYS))
