"""Redis round trips of a refresh through ``RedisTokenStore`` (threat A12, C-48), real Redis on
loopback and the dev AS: a warm call sends nothing; a refresh is three round trips — the lease
taken together with the fresh read of the token record (one script), the fenced write, the
release; a second process that finds the token already refreshed by the first spends two (take
and read, release; plus its first read of the client registration) and sends no refresh
request. Exactly-once and fencing are covered with
the real AS in test_client_redis_fleet.py.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from tests.helpers.client_world import PING, world
from zeroauth.client import Keyring, RedisTokenStore

KEYS = Keyring.generate("rt")
AHEAD = 3590.0  # the dev AS's tokens live an hour: this puts them inside the refresh margin


def _refreshes(auth: Any) -> int:
    return int(auth.engine.transport.sent.get("refresh", 0))


def test_a12_sync_refresh_costs_three_round_trips_and_a_refreshed_token_two(
    redis_url: str, redis_prefix: str
) -> None:
    ahead = [0.0]
    one = RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=KEYS)
    two = RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=KEYS)
    with world() as w:
        first = w.client(store=one, clock=lambda: time.time() + ahead[0])
        second = w.client(store=two, clock=lambda: time.time() + ahead[0])
        with httpx2.Client(auth=first, timeout=30) as a, httpx2.Client(auth=second) as b:
            assert a.post(w.server_url, json=PING).status_code == 200  # login, saved
            assert b.post(w.server_url, json=PING).status_code == 200  # loaded from Redis
            for http in (a, b):  # warm: nothing sent to Redis
                before = (one.round_trips, two.round_trips)
                assert http.post(w.server_url, json=PING).status_code == 200
                assert (one.round_trips, two.round_trips) == before
            ahead[0] = AHEAD
            before_one = one.round_trips
            assert a.post(w.server_url, json=PING).status_code == 200
            assert _refreshes(first) == 1
            assert one.round_trips - before_one == 3  # take+read, fenced write, release
            before_two = two.round_trips
            assert b.post(w.server_url, json=PING).status_code == 200
            assert _refreshes(second) == 0  # found the first process's new token
            # take+read, release, and the client registration: this process's first read
            # of it (kept in memory from then on)
            assert two.round_trips - before_two == 3
    one.close()
    two.close()


@pytest.mark.anyio
async def test_a12_async_refresh_costs_three_round_trips(redis_url: str, redis_prefix: str) -> None:
    ahead = [0.0]
    store = RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=KEYS)
    with world() as w:
        auth = w.client(store=store, clock=lambda: time.time() + ahead[0])
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            assert (await http.post(w.server_url, json=PING)).status_code == 200
            ahead[0] = AHEAD
            before = store.round_trips
            assert (await http.post(w.server_url, json=PING)).status_code == 200
            assert _refreshes(auth) == 1
            assert store.round_trips - before == 3
    await store.aclose()
